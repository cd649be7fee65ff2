"""The per-request context: who is asking, through which session, and the request's loaders.

Everything a resolver or permission needs about the caller lives here and nowhere else, so later
layers (the current organization, a partner token's scopes) are added in this one place.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

import structlog
from starlette.background import BackgroundTasks
from starlette.requests import HTTPConnection
from starlette.responses import Response

from auth.access import Access
from auth.permissions import Permission
from auth.viewer import Viewer
from core.errors import NotFound, Unauthenticated
from loaders import Loaders
from models.tenancy import TenantModel

if TYPE_CHECKING:
    from engine.documents import TrustedDocument
    from models.accounts import Session, User
    from services import Services
    from services.budgets import CostReport

T = TypeVar("T", bound=TenantModel)

log = structlog.get_logger("relleks.context")


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
    listening: Callable[[], None] | None = None
    """Set on a WebSocket operation's context (`web/graphql_ws.py`): called by a subscription
    once it listens for events, the moment it has started (for the metrics and usage)."""
    document: TrustedDocument | None = None
    """The trusted document this operation runs, when the client named one by its id
    (`engine/documents.py`): parsed and validated at start, neither is done again."""
    charged: bool = False
    """The query's cost was taken from the caller's budget (`engine.cost.charge`): once."""
    plan: str | None = None
    """What this request's compiled plan did: "answered" or "abandoned" (`engine/direct.py`
    reads it; once abandoned, the executor does not try the plan again)."""

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

    async def visible(self, model: type[T], node_ids: Iterable[str],
                      permission: Permission) -> dict[str, T]:
        """`node(id:)` for an org-owned type: the rows, by node id, of orgs where the caller
        holds `permission`; ids that are no UUID, or name rows elsewhere, are left out."""
        ids = uuids_of(node_ids)
        owners = await self.loaders.org_of(model).load_many(list(ids))
        readable = await self.access.orgs_with(permission)
        orgs = {org for org in owners if org in readable}
        if not orgs:
            return {}
        rows = await self.access.scoped(model, orgs).filter(id__in=list(ids))
        return {str(row.pk): row for row in rows}

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

    def after_response(self, job: Callable[[], Awaitable[None]], *, event: str,
                       **log_fields: object) -> None:
        """Run `job` once the response is sent (mail a client must not wait for, nor learn the
        fate of); a failure is logged as `event` and reaches no client."""

        async def run() -> None:
            try:
                await job()
            except Exception:
                log.exception(event, request_id=self.request_id, **log_fields)

        if not isinstance(self.response.background, BackgroundTasks):
            tasks = BackgroundTasks()
            if self.response.background is not None:
                tasks.add_task(self.response.background)
            self.response.background = tasks
        self.response.background.add_task(run)


def uuids_of(node_ids: Iterable[str]) -> set[uuid.UUID]:
    """The node ids that are UUIDs, as UUIDs: `node(id:)` leaves any other id out (NOT_FOUND
    for that id alone), never failing the batch."""
    ids = set()
    for node_id in node_ids:
        try:
            ids.add(uuid.UUID(node_id))
        except ValueError:
            continue
    return ids
