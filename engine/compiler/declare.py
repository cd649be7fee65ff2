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
class PageOf:
    """A connection field: the first `first` rows of `model` (a tenant model) whose
    `parent_key` column holds the parent row's id, in `order` ((column, descending) pairs, the
    last one unique): what the resolver returns when only `first` is given."""

    model: type[Any]
    parent_key: str
    order: tuple[tuple[str, bool], ...]


def compiled(declaration: LocatedRow | PageOf) -> dict[str, Any]:
    """The field metadata that declares `declaration` (merge it with other metadata)."""
    return {COMPILED: declaration}
