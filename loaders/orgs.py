"""Batch loaders for organizations: by id, by slug, and the owning org of org-owned rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.loading import Loader
from database.rows import by_ids
from models.orgs import Membership, Organization
from models.tenancy import TenantModel, before_org_known_joined

if TYPE_CHECKING:
    from auth.access import Access


class OrganizationLoader(Loader[uuid.UUID, Organization | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Organization | None]:
        orgs = await by_ids(Organization, keys)
        return [orgs.get(key) for key in keys]


class OrgIdBySlugLoader(Loader[str, uuid.UUID | None]):
    """Org ids by slug. It loads the whole rows and primes `organizations` with them: the field
    that looked an org up by slug reads it next, and then costs no second query.

    For a person it reads their memberships of those orgs with the orgs, in one statement, and
    primes access control with them (a permission check follows every lookup by slug). An org
    they do not belong to is then None: for them it does not exist (NOT_FOUND either way)."""

    def __init__(self, organizations: OrganizationLoader | None = None,
                 access: Access | None = None) -> None:
        super().__init__()
        self.organizations = organizations
        self.access = access

    async def batch_load_fn(self, slugs: Sequence[str]) -> list[uuid.UUID | None]:
        access = self.access
        if access is not None and access.user_id is not None:
            # The viewer's own memberships (as `Membership.of_user`), with their orgs.
            memberships = await before_org_known_joined(
                Membership, "organization", reason="a person's own memberships, by org slug",
                where={"user_id": access.user_id, "organization.slug": list(slugs)})
            orgs = {m.organization.slug: m.organization for m in memberships}
            for membership in memberships:
                access.prime(membership)
            missing = [slug for slug in slugs if slug not in orgs]
            if missing and await access.is_staff():
                # A Relleks staff member reaches an org they are not in only through a live
                # support access grant of it (`Access.support_grant`).
                for org in await Organization.filter(slug__in=missing):
                    if await access.support_grant(org.id) is not None:
                        orgs[org.slug] = org
        else:
            orgs = {o.slug: o for o in await Organization.filter(slug__in=list(slugs))}
        if self.organizations is not None:
            for org in orgs.values():
                self.organizations.prime(org.id, org)
        return [orgs[slug].id if slug in orgs else None for slug in slugs]


class OwnerOrgLoader(Loader[uuid.UUID, uuid.UUID | None]):
    """The org owning each row of one org-owned model (see `TenantModel.owner_orgs`)."""

    def __init__(self, model: type[TenantModel], access: Access | None = None) -> None:
        super().__init__()
        self.model = model
        self.access = access

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[uuid.UUID | None]:
        # Through access control when there is one: for a person, it reads their memberships
        # of those orgs in the same statement (a permission check follows every such lookup).
        owners = await (self.access.owner_orgs(self.model, ids) if self.access is not None
                        else self.model.owner_orgs(ids))
        return [owners.get(row_id) for row_id in ids]
