"""Batch loaders for organizations: by id, by slug, and the owning org of org-owned rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiodataloader import DataLoader

from models.orgs import Organization
from models.tenancy import TenantModel


class OrganizationLoader(DataLoader[uuid.UUID, Organization | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Organization | None]:
        orgs = {o.id: o for o in await Organization.filter(id__in=list(keys))}
        return [orgs.get(key) for key in keys]


class OrgIdBySlugLoader(DataLoader[str, uuid.UUID | None]):
    """Org ids by slug. It loads the whole rows and primes `organizations` with them: the field
    that looked an org up by slug reads it next, and then costs no second query."""

    def __init__(self, organizations: OrganizationLoader | None = None) -> None:
        super().__init__()
        self.organizations = organizations

    async def batch_load_fn(self, slugs: Sequence[str]) -> list[uuid.UUID | None]:
        orgs = {o.slug: o for o in await Organization.filter(slug__in=list(slugs))}
        if self.organizations is not None:
            for org in orgs.values():
                self.organizations.prime(org.id, org)
        return [orgs[slug].id if slug in orgs else None for slug in slugs]


class OwnerOrgLoader(DataLoader[uuid.UUID, uuid.UUID | None]):
    """The org owning each row of one org-owned model (see `TenantModel.owner_orgs`)."""

    def __init__(self, model: type[TenantModel]) -> None:
        super().__init__()
        self.model = model

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[uuid.UUID | None]:
        owners = await self.model.owner_orgs(ids)
        return [owners.get(row_id) for row_id in ids]
