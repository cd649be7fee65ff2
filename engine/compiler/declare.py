"""What a domain field declares so that a compiled operation can answer it from rows.

A field declares its compiled form once, in its metadata, next to its resolver (which stays the
reference: the ordinary executor runs it whenever the compiler does not):

    leads: LeadConnection = strawberry.field(
        resolver=organization_leads, ...,
        metadata=compiled(PageOf(models.Lead, parent_key="organization_id",
                                 order=(("created_at", True), ("id", True)))))

The engine never imports a domain: it reads these declarations, the types' models
(`engine.fields.ModelNode.model`), the relations (`engine.fields.relation`) and the permissions
named on the fields (`engine.permissions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMPILED = "relleks.compiled"
"""The metadata key of a field's compiled form."""


@dataclass(frozen=True)
class LocatedRow:
    """A root field whose answer is the organization its permission (`BelongsToOrg`) locates,
    read through the request loader named `loader` (the resolver reads the same one)."""

    loader: str


@dataclass(frozen=True)
class RowById:
    """A root field whose answer is the row of its type's model (a tenant model) whose global
    id the argument `argument` holds, its org located by its permission (`HasPermission` with
    `org_of(...)`): `lead(id:)`. No such row visible to the caller: the ordinary executor
    answers (NOT_FOUND)."""

    argument: str = "id"


@dataclass(frozen=True)
class PageQuery:
    """What a connection's arguments ask for, in columns: the order ((column, descending)
    pairs, the last one unique) and conditions (a column and the values it may hold)."""

    order: tuple[tuple[str, bool], ...]
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()


@dataclass(frozen=True)
class PageOf:
    """A connection field: the first `first` rows of `model` (a tenant model) whose
    `parent_key` column holds the parent row's id, in `order` ((column, descending) pairs, the
    last one unique): what the resolver returns when only `first` is given.

    A field whose other arguments (filters, orders) can be said in columns names `arguments`:
    given the field's arguments (GraphQL names, coerced: input objects as dicts, enums as
    members), it returns the `PageQuery` the resolver would run, or None for anything it does
    not express (cursors, a search...), which the ordinary executor then answers. Without it,
    any argument but `first` is left to the ordinary executor."""

    model: type[Any]
    parent_key: str
    order: tuple[tuple[str, bool], ...]
    arguments: Callable[[dict[str, Any]], PageQuery | None] | None = None


def compiled(declaration: LocatedRow | RowById | PageOf) -> dict[str, Any]:
    """The field metadata that declares `declaration` (merge it with other metadata)."""
    return {COMPILED: declaration}
