"""Org-owned rows can be read only through a tenant scope.

Every model that belongs to an organization derives from `TenantModel`. Its usual query entry
points (`filter`, `all`, `get`...) refuse to run, so the only way to read one is
`Model.scoped(org_ids)`, which the request's access control (`auth/access.py`) calls after checking
that the caller belongs to those orgs. Forgetting the tenant filter is then an error on the first
test run, not a data leak in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Self

from tortoise.queryset import QuerySet

from models.base import BaseModel


class UnscopedQuery(TypeError):
    """An org-owned model was queried without a tenant scope."""


def _refuse(name: str) -> Any:
    def refuse(cls: type[TenantModel], *args: Any, **kwargs: Any) -> Any:
        raise UnscopedQuery(f"{cls.__name__}.{name}() is not tenant-scoped: use "
                            f"{cls.__name__}.scoped(org_ids) through the request's access control")

    return classmethod(refuse)


class TenantModel(BaseModel):
    """A row owned by one organization (`organization_id`)."""

    organization_id: uuid.UUID

    class Meta:
        abstract = True

    @classmethod
    def scoped(cls, org_ids: uuid.UUID | Iterable[uuid.UUID]) -> QuerySet[Self]:
        """The rows of these organizations only. Call it through `ctx.access`, which checks
        membership first; loaders receive org ids that passed that check."""
        query = cls._meta.manager.get_queryset()
        if isinstance(org_ids, uuid.UUID):
            return query.filter(organization_id=org_ids)
        return query.filter(organization_id__in=list(org_ids))

    @classmethod
    def without_restricted(cls, query: QuerySet[Self], org_ids: Iterable[uuid.UUID]
                           ) -> QuerySet[Self]:
        """`query` without the rows about a lead whose processing is restricted (the lead
        itself, its notes): what a credential that is not a person never sees (see
        `auth/access.py`). A model that holds such data overrides it; the rest keep every row.
        """
        return query

    @classmethod
    async def owner_orgs(cls, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Which org owns each of these rows. Used only to find the org whose permission a
        field must check before it touches the row; it reveals nothing else."""
        rows = await cls._meta.manager.get_queryset().filter(id__in=list(ids)) \
            .values_list("id", "organization_id")
        return {row_id: org_id for row_id, org_id in rows}

    filter = _refuse("filter")
    all = _refuse("all")
    get = _refuse("get")
    get_or_none = _refuse("get_or_none")
    first = _refuse("first")
    exclude = _refuse("exclude")
    annotate = _refuse("annotate")
    exists = _refuse("exists")
    latest = _refuse("latest")
    earliest = _refuse("earliest")
    select_for_update = _refuse("select_for_update")
    in_bulk = _refuse("in_bulk")
    get_or_create = _refuse("get_or_create")
    update_or_create = _refuse("update_or_create")
