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
    async def batch_load_fn(self, slugs: Sequence[str]) -> list[uuid.UUID | None]:
        rows = dict(await Organization.filter(slug__in=list(slugs)).values_list("slug", "id"))
        return [rows.get(slug) for slug in slugs]


class OwnerOrgLoader(DataLoader[uuid.UUID, uuid.UUID | None]):
    """The org owning each row of one org-owned model (see `TenantModel.owner_orgs`)."""

    def __init__(self, model: type[TenantModel]) -> None:
        super().__init__()
        self.model = model

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[uuid.UUID | None]:
        owners = await self.model.owner_orgs(ids)
        return [owners.get(row_id) for row_id in ids]
