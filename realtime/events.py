"""What is published for each activity event, and on which topics.

Every activity event (`models.activity.ActivityEvent`) is published as written, on its org's
topic; events that concern a person's own memberships also go on that person's topic (or, for an
invitation, on its email's topic), which is what `membershipEvents` follows. Subscribers never
trust a message for permissions: they re-check and re-read at delivery.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from models.activity import ActivityEvent
from realtime.credentials import CREDENTIAL_ACTIONS, credentials_topic


def org_topic(org_id: uuid.UUID | str) -> str:
    return f"org:{org_id}"


def user_topic(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def email_topic(email: str) -> str:
    """An invited email's topic: hashed, so channel names carry no address."""
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def message_of(event: ActivityEvent, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The published form of `event` (JSON-safe). `extra` holds facts for subscribers that
    the log does not keep, e.g. a deleted lead's owner."""
    return {
        "id": str(event.id),
        "organizationId": str(event.organization_id),
        "action": event.action,
        "targetType": event.target_type,
        "targetId": str(event.target_id) if event.target_id else None,
        "summary": event.summary,
        "actorId": str(event.actor_id) if event.actor_id else None,
        "apiTokenId": str(event.api_token_id) if event.api_token_id else None,
        "formId": str(event.form_id) if event.form_id else None,
        "ip": event.ip,
        "userAgent": event.user_agent,
        "createdAt": event.created_at.isoformat(),
        "extra": extra or {},
    }


def topics_of(message: dict[str, Any], email: str | None = None) -> list[str]:
    """The org's topic (and its credentials' topic for an action that may end some), plus the
    people whose own membership the event changes (`users` in its extra facts), plus an invited
    `email`'s topic."""
    topics = [org_topic(message["organizationId"])]
    if message["action"] in CREDENTIAL_ACTIONS:  # open sockets of tokens and grants re-check
        topics.append(credentials_topic(message["organizationId"]))
    topics += [user_topic(user_id) for user_id in message["extra"].get("users", ())]
    if email:
        topics.append(email_topic(email))
    return topics
