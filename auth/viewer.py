"""Who is asking: the authenticated caller of one request or WebSocket, or why there is none.

`auth.authenticate` builds it from the credential presented; the request's `Context`
(`engine/context.py`) carries it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.accounts import Session, User
    from models.oauth import OAuthGrant
    from models.tokens import ApiToken


@dataclass
class Viewer:
    """The authenticated caller, or why there is none (`error` for a bad credential).

    A person has `user` and `session`; an organization API token has `token` only (its creator
    loaded as `token.created_by`): it is not a person, so fields for people refuse it. A partner
    app's OAuth access token has `grant` only, and acts like an API token: in the grant's org,
    with the grant's scopes, its approver as `grant.created_by`."""

    user: User | None = None
    session: Session | None = None
    via_cookie: bool = False
    error: str | None = None
    token: ApiToken | None = None
    grant: OAuthGrant | None = None
    oauth_token_id: uuid.UUID | None = None
    """The partner app's access token presented (with `grant`): revoking it alone ends it."""
    expires_at: datetime | None = None
    """When the credential presented ends by itself (an access token's, a session's or an API
    token's expiry): a WebSocket opened with it is closed then."""
    refresh: bool = False
    """With `error`: the credential was an access token (a person's JWT or a partner app's OAuth
    access token) that expired, so a refreshed one would stand. A WebSocket is then closed with
    4403 (refresh and reconnect) rather than 4401 (sign in again): `web/graphql_ws.py`."""

    @property
    def kind(self) -> str:
        """What kind of client this is, as `PERSISTED_ONLY` names them: `person`, `api_token`,
        `partner_app` or `anonymous` (no credential, or a bad one)."""
        if self.user is not None:
            return "person"
        if self.token is not None:
            return "api_token"
        if self.grant is not None:
            return "partner_app"
        return "anonymous"

    @property
    def credential(self) -> ApiToken | OAuthGrant | None:
        """The org credential acting (an API token or an OAuth grant), if not a person."""
        return self.token if self.token is not None else self.grant
