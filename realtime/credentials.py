"""Notices that a credential may have ended, for the WebSockets that hold one open.

A socket re-reads its credential before every operation and event; these notices make it do so
at once when nothing else is happening, so a socket whose credential ended is closed (4401)
within moments of the logout or revocation, not at its next message. A notice carries no
secret and no verdict: the socket re-reads the credential and decides for itself.

- A person's sessions ending (logout, password change, account deletion...) is announced on
  `sessions_topic(user_id)`.
- An organization's tokens and grants ending (revocation, a member removed or demoted, the
  organization scheduled for deletion) is announced on `credentials_topic(org_id)`: the activity
  events for those actions go there too (`realtime.events.topics_of`).
"""

from __future__ import annotations

import uuid

from realtime.broker import Broker
from realtime.outbox import queue

SESSIONS_ENDED = "sessions.ended"
CREDENTIAL_ENDED = "credential.ended"

CREDENTIAL_ACTIONS = frozenset({
    "api_token.revoked", "oauth_app.revoked", "member.removed", "member.left",
    "member.role_changed", "organization.ownership_transferred",
    "organization.deletion_scheduled",
})
"""Activity actions after which an org's tokens and grants may no longer stand."""


def sessions_topic(user_id: uuid.UUID | str) -> str:
    return f"sessions:{user_id}"


def credentials_topic(org_id: uuid.UUID | str) -> str:
    return f"credentials:{org_id}"


async def announce_sessions_ended(broker: Broker, user_id: uuid.UUID) -> None:
    """Some of `user_id`'s sessions ended: after the transaction around commits."""
    await queue(broker, [sessions_topic(user_id)], {"action": SESSIONS_ENDED})


async def announce_credentials_ended(broker: Broker, org_id: uuid.UUID) -> None:
    """Some of the org's tokens or grants ended without an activity event saying so (a partner
    app revoking its own access token): after the transaction around commits."""
    await queue(broker, [credentials_topic(org_id)], {"action": CREDENTIAL_ENDED})
