"""Look-ahead: what a connection's caller asked for below its nodes, so a connection can load a
whole page's relations in a few batched queries before its children resolve.

A connection calls `prefetch_page(info, rows, NodeType)`; what it loads is declared on the
fields themselves (`engine.fields.relation`, `prefetches`), so no field is named here or
there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from strawberry.types.base import get_object_definition
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from engine.fields import RELATION


def _fields(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def children(fields: Iterable[SelectedField], name: str) -> list[SelectedField]:
    return [child for field in fields for child in _fields(field.selections)
            if child.name == name]


def node_fields(info: Any) -> dict[str, list[SelectedField]]:
    """The fields selected on this connection's items, through `nodes` or `edges { node }`, by
    name (a field may be selected more than once, e.g. under aliases)."""
    return node_fields_of(list(info.selected_fields))


def node_fields_of(connection: list[SelectedField]) -> dict[str, list[SelectedField]]:
    items = children(connection, "nodes") + children(children(connection, "edges"), "node")
    selected: dict[str, list[SelectedField]] = {}
    for field in _fields(sel for item in items for sel in item.selections):
        selected.setdefault(field.name, []).append(field)
    return selected


PREFETCH = "relleks.prefetch"
"""Field metadata: how a field below a page's nodes loads its part for the whole page at once
(`prefetches(...)`)."""

Prefetcher = Callable[[Any, list[Any], list[SelectedField]],
                      Awaitable["tuple[list[Any], type, list[SelectedField]] | None"]]
"""(info, the page's rows, the field's selections) -> the rows it loaded, their node type and
the selections whose nodes to look below, or None."""


def prefetches(prefetcher: Prefetcher) -> dict[str, Prefetcher]:
    """Field metadata declaring the field's page-wide prefetch, e.g. a lead's first notes:
    `strawberry.field(..., metadata=prefetches(first_notes_of_page))`."""
    return {PREFETCH: prefetcher}


async def prefetch_page(info: Any, rows: list[Any], node_type: type) -> None:
    """Load, for a whole page of `node_type` rows, what its caller selected below the nodes:
    each relation field (`engine.fields.relation`, found by its metadata, never by name) and
    each field declaring `prefetches`, recursively below what those load. Ids are gathered
    first and each loader is asked once, so the page's owners and its notes' authors are one
    query. The fields themselves then answer from their loaders without a query each."""
    if not rows:
        return
    wanted: dict[str, set[Any]] = {}
    await _gather(info, rows, node_type, node_fields(info), wanted)
    loaders = info.context.loaders
    for loader, ids in wanted.items():
        if ids:
            await getattr(loaders, loader).load_many(list(ids))


async def _gather(info: Any, rows: list[Any], node_type: type,
                  selected: dict[str, list[SelectedField]], wanted: dict[str, set[Any]]) -> None:
    graphql_type = info.schema._schema.get_type(
        get_object_definition(node_type, strict=True).name)
    for name, selections in selected.items():
        field = graphql_type.fields.get(name)
        definition = (field.extensions or {}).get("strawberry-definition") if field else None
        metadata = (definition.metadata or {}) if definition is not None else {}
        link = metadata.get(RELATION)
        if link is not None:
            key, loader = link
            wanted.setdefault(loader, set()).update(
                value for row in rows if (value := getattr(row, key)) is not None)
        prefetcher = metadata.get(PREFETCH)
        if prefetcher is not None:
            loaded = await prefetcher(info, rows, selections)
            if loaded is not None:
                child_rows, child_type, child_selections = loaded
                if child_rows:
                    await _gather(info, child_rows, child_type, node_fields_of(child_selections),
                                  wanted)
