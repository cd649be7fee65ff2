"""DataLoaders, one module per domain, gathered per request by `Loaders` (see `context.py`).

They are built per request, never at module level: a loader caches, and a cache shared across
requests would be shared across users and tenants.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from loaders.accounts import UserLoader
from loaders.base import Loader
from loaders.leads import NotesFirstPageLoader
from loaders.oauth import OAuthAppLoader
from loaders.orgs import OrganizationLoader, OrgIdBySlugLoader, OwnerOrgLoader
from models.tenancy import TenantModel

if TYPE_CHECKING:
    from auth.access import Access

K = TypeVar("K")
V = TypeVar("V")


NOT_LOADED: Any = object()


def peek(loader: Loader[K, V], key: K) -> V:
    """The value if this request already loaded it (e.g. a parent prefetched it), else
    `NOT_LOADED`; never starts a load."""
    future = loader.futures.get(key)
    if future is not None and future.done() and not future.cancelled() \
            and future.exception() is None:
        return future.result()
    return NOT_LOADED


def loaded(loader: Loader[K, V], key: K) -> V | Awaitable[V]:
    """The value if this request already loaded it, else the awaitable load. Resolvers that
    return this stay synchronous on the hot path: an awaited resolver costs a coroutine and an
    event-loop round per object."""
    value = peek(loader, key)
    return loader.load(key) if value is NOT_LOADED else value


class Loaders:
    """The request's loaders, each built on first use."""

    def __init__(self, access: Access | None = None) -> None:
        self._access = access
        self._owner_orgs: dict[type[TenantModel], OwnerOrgLoader] = {}
        self._first_notes: dict[tuple[uuid.UUID, int], NotesFirstPageLoader] = {}

    @cached_property
    def user(self) -> UserLoader:
        return UserLoader()

    @cached_property
    def oauth_app(self) -> OAuthAppLoader:
        return OAuthAppLoader()

    @cached_property
    def organization(self) -> OrganizationLoader:
        return OrganizationLoader()

    @cached_property
    def org_id_by_slug(self) -> OrgIdBySlugLoader:
        return OrgIdBySlugLoader(self.organization, self._access)

    def first_notes(self, org_id: uuid.UUID, limit: int) -> NotesFirstPageLoader:
        """The newest `limit` notes per lead, for leads of an org whose access was checked."""
        key = (org_id, limit)
        if key not in self._first_notes:
            self._first_notes[key] = NotesFirstPageLoader(org_id, limit)
        return self._first_notes[key]

    def org_of(self, model: type[TenantModel]) -> OwnerOrgLoader:
        if model not in self._owner_orgs:
            self._owner_orgs[model] = OwnerOrgLoader(model)
        return self._owner_orgs[model]
