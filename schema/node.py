"""`node(id:)`: fetch any object by its global id, among those the viewer may see.

An id that names nothing the viewer may see, including another tenant's object, is NOT_FOUND: the
answer never tells "exists but forbidden" apart from "does not exist".
"""

from __future__ import annotations

import strawberry
from strawberry import relay

from errors import NotFound
from schema.base import Info


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global `id`.")
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node:
        try:
            node = await id.resolve_node(info, required=False)
        except (relay.GlobalIDValueError, ValueError) as exc:
            raise NotFound(field="id") from exc
        if node is None:
            raise NotFound(field="id")
        return node
