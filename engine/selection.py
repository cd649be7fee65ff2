"""Look-ahead: what a connection's caller asked for below its nodes, so a connection can load a
whole page's relations in a few batched queries before its children resolve."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


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
