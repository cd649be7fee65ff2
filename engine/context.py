"""The per-request context: who is asking, through which session, and the request's loaders.

Everything a resolver or permission needs about the caller lives here and nowhere else, so later
layers (the current organization, a partner token's scopes) are added in this one place.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from starlette.requests import HTTPConnection
from starlette.responses import Response

from auth.access import Access
from core.errors import NotFound, Unauthenticated
from loaders import Loaders
from models.tenancy import TenantModel

if TYPE_CHECKING:
    from engine.cost import CostReport
    from models.accounts import Session, User
    from models.oauth import OAuthGrant
    from models.tokens import ApiToken
    from services import Services

T = TypeVar("T", bound=TenantModel)


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

    @property
    def credential(self) -> ApiToken | OAuthGrant | None:
        """The org credential acting (an API token or an OAuth grant), if not a person."""
        return self.token if self.token is not None else self.grant


@dataclass
class Context:
    request: HTTPConnection
    """The HTTP request, or the WebSocket of a subscription's connection."""
    response: Response
    services: Services
    request_id: str
    viewer: Viewer
    cost: CostReport | None = None
    """This request's query cost and the caller's budget after it (`engine/cost.py`)."""

    @cached_property
    def loaders(self) -> Loaders:
        """DataLoaders built once per request, so their cache never crosses users or tenants."""
        return Loaders(self.access)

    @cached_property
    def access(self) -> Access:
        """The caller's orgs and permissions, and the tenant scope for org-owned rows."""
        return Access(self.viewer.user.id if self.viewer.user else None,
                      self.viewer.credential)

    def for_operation(self) -> Context:
        """A copy for one subscription of a WebSocket connection: its own loaders and access."""
        return dataclasses.replace(self)

    def renew(self, viewer: Viewer) -> None:
        """Before each event a subscription delivers: the viewer as now read, and new loaders and
        access control, so a changed role or row is seen at once (their caches last one event).
        """
        self.viewer = viewer
        self.__dict__.pop("loaders", None)
        self.__dict__.pop("access", None)

    @property
    def user(self) -> User:
        """The signed-in user; UNAUTHENTICATED otherwise (permissions check this first).

        Behind an API token, the person who created the token: what a write records as a
        person (an invitation's sender, a note's author) names them, while the activity log
        names the token itself. Permissions never come from this user (see `auth/access.py`)."""
        token = self.viewer.credential
        if self.viewer.user is None and token is not None and token.created_by is not None:
            return token.created_by
        if self.viewer.user is None:
            raise Unauthenticated(self.viewer.error or "Sign in first.")
        return self.viewer.user

    async def row(self, model: type[T], row_id: uuid.UUID, *, what: str, field: str = "id",
                  org_id: uuid.UUID | None = None) -> T:
        """One org-owned row by id, read through the tenant scope: of `org_id`, or by default of
        the org owning it, whose permission check the field ran. A row of any other org is
        NOT_FOUND, exactly like a row that does not exist."""
        if org_id is None:
            org_id = await self.loaders.org_of(model).load(row_id)
        if org_id is not None:
            try:
                found = await self.access.scoped(model, org_id).filter(id=row_id).first()
            except NotFound:
                found = None
            if found is not None:
                return found
        raise NotFound(what, field=field)

    @property
    def session(self) -> Session:
        if self.viewer.session is None:
            raise Unauthenticated(self.viewer.error or "Sign in first.")
        return self.viewer.session

    @property
    def client_ip(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    @property
    def user_agent(self) -> str | None:
        agent = self.request.headers.get("user-agent")
        return agent[:512] if agent else None
