"""Shared pieces of the schema: the request-typed `Info`, model-backed nodes and connections.

Types are explicit (never a model's every column), but resolvers hand back Tortoise model instances
directly: a model-backed type declares its model, and GraphQL accepts that model as the type.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar, TypeAlias

import strawberry
from strawberry import relay
from strawberry.relay.utils import SliceMetadata
from strawberry.types import Info as _Info
from tortoise.models import Model

from context import Context
from errors import BadUserInput, NotFound

Info: TypeAlias = _Info[Context, None]


class ModelNode(relay.Node):
    """A Relay node backed by a Tortoise model: its global id wraps the model's UUID."""

    model: ClassVar[type[Model]]

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, cls | cls.model)

    @classmethod
    def resolve_id(cls, root: Any, *, info: Info) -> str:
        return str(root.id)


def decode_id(global_id: relay.GlobalID, node: type[ModelNode], *, field: str = "id") -> uuid.UUID:
    """The UUID inside a global id of the given type; NOT_FOUND for any other id."""
    name = node.__strawberry_definition__.name  # type: ignore[attr-defined]
    if global_id.type_name != name:
        raise NotFound(name.lower(), field=field)
    try:
        return uuid.UUID(global_id.node_id)
    except ValueError as exc:
        raise NotFound(name.lower(), field=field) from exc


@strawberry.type(description="A page of items, with the total across all pages.")
class Connection(relay.ListConnection[relay.NodeType]):
    """A capped, offset-cursor connection for short lists (sessions, members of one org).

    Large, append-only lists use keyset cursors instead (see the leads connection)."""

    total: strawberry.Private[int] = 0

    @strawberry.field(description="How many items there are across all pages.")
    def total_count(self) -> int:
        return self.total

    @strawberry.field(description="The items of this page, without their cursors.")
    def nodes(self) -> list[relay.NodeType]:  # type: ignore[valid-type]
        return [edge.node for edge in self.edges]

    @classmethod
    def resolve_connection(cls, nodes: Iterable[Any], *, info: Any, before: str | None = None,
                           after: str | None = None, first: int | None = None,
                           last: int | None = None, max_results: int | None = None,
                           **kwargs: Any) -> Any:
        items = list(nodes)
        try:
            page = SliceMetadata.from_arguments(info, before=before, after=after, first=first,
                                                last=last, max_results=max_results,
                                                prefix=relay.Edge.CURSOR_PREFIX)
        except (ValueError, TypeError) as exc:
            # Strawberry reports a bad `first`/`after` as a bare ValueError/TypeError.
            raise BadUserInput(str(exc), {"pagination": str(exc)}) from exc
        end = min(page.end, len(items))
        start = max(0, min(page.start, end))
        if last is not None and page.end == sys.maxsize:
            start = max(start, end - last)
        edges = [relay.Edge.resolve_edge(item, cursor=index)
                 for index, item in enumerate(items[start:end], start)]
        connection = cls(edges=edges, page_info=relay.PageInfo(
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
            has_previous_page=start > 0,
            has_next_page=end < len(items),
        ))
        connection.total = len(items)
        return connection
