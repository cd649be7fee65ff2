"""Access control for one request: which orgs the caller belongs to, with which permissions, and
the tenant scope through which org-owned rows are read.

`require(org_id, permission)` is what field permissions call. A caller who is not a member gets
NOT_FOUND (the org does not exist for them); a member without the permission gets FORBIDDEN naming
it. `scoped(Model, org_ids)` then reads org-owned rows, and refuses orgs that were not checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TypeVar

from aiodataloader import DataLoader
from tortoise.queryset import QuerySet

from auth.permissions import ROLE_GRANTS, Permission
from errors import Forbidden, NotFound
from models.orgs import Membership
from models.tenancy import TenantModel

T = TypeVar("T", bound=TenantModel)


class _ViewerMembershipLoader(DataLoader[uuid.UUID, Membership | None]):
    """The caller's membership per org, all orgs asked in a tick fetched in one query."""

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__()
        self.user_id = user_id

    async def batch_load_fn(self, org_ids: list[uuid.UUID]) -> list[Membership | None]:
        rows = await Membership.of_user(self.user_id).filter(organization_id__in=org_ids)
        by_org = {m.organization_id: m for m in rows}
        return [by_org.get(org_id) for org_id in org_ids]


class Access:
    def __init__(self, user_id: uuid.UUID | None) -> None:
        self.user_id = user_id
        self._memberships = _ViewerMembershipLoader(user_id) if user_id else None
        self._checked: set[uuid.UUID] = set()

    async def membership(self, org_id: uuid.UUID) -> Membership | None:
        if self._memberships is None:
            return None
        return await self._memberships.load(org_id)

    def prime(self, membership: Membership) -> None:
        """Record a membership already loaded (e.g. `me.memberships`), saving a query."""
        if self._memberships is not None and membership.user_id == self.user_id:
            self._memberships.prime(membership.organization_id, membership)

    async def permissions(self, org_id: uuid.UUID) -> frozenset[Permission]:
        membership = await self.membership(org_id)
        return ROLE_GRANTS[membership.role] if membership else frozenset()

    async def require(self, org_id: uuid.UUID, permission: Permission) -> Membership:
        membership = await self.membership(org_id)
        if membership is None:
            raise NotFound("organization")
        if permission not in ROLE_GRANTS[membership.role]:
            raise Forbidden(f"Your role ({membership.role.name}) does not allow this: it needs "
                            f"the `{permission.value}` permission.", permission=permission.value)
        self._checked.add(org_id)
        return membership

    async def orgs_with(self, permission: Permission) -> set[uuid.UUID]:
        """Every org where the caller holds `permission` (one query), marked as checked."""
        if self.user_id is None:
            return set()
        memberships = await Membership.of_user(self.user_id)
        for membership in memberships:
            self.prime(membership)
        granted = {m.organization_id for m in memberships if permission in ROLE_GRANTS[m.role]}
        self._checked |= granted
        return granted

    def forget(self, org_id: uuid.UUID) -> None:
        """Drop a cached membership after it changed in this request."""
        if self._memberships is not None:
            self._memberships.clear(org_id)

    def scoped(self, model: type[T], org_ids: uuid.UUID | Iterable[uuid.UUID]) -> QuerySet[T]:
        """Rows of `model` in orgs whose permission check passed in this request."""
        wanted = {org_ids} if isinstance(org_ids, uuid.UUID) else set(org_ids)
        if not wanted <= self._checked:
            raise NotFound("organization")
        return model.scoped(wanted)
