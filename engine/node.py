"""`node(id:)`: fetch any object by its global id, among those the viewer may see.

An id that names nothing the viewer may see, including another tenant's object, is NOT_FOUND: the
answer never tells "exists but forbidden" apart from "does not exist". So is an id whose type is
no concrete node type (an interface such as `Node` itself, `Query`, a connection...).
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types.base import StrawberryObjectDefinition

from core.errors import NotFound
from engine.fields import Info, ModelNode


def node_type(id: relay.GlobalID, info: Info) -> type[ModelNode]:
    """The model-backed object type an id names; NOT_FOUND for any other name."""
    definition = info.schema.get_type_by_name(id.type_name)
    if not isinstance(definition, StrawberryObjectDefinition) or definition.is_interface:
        raise NotFound(field="id")
    origin = definition.origin
    if not isinstance(origin, type) or not issubclass(origin, ModelNode):
        raise NotFound(field="id")
    return origin


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global `id`.")
    async def node(self, info: Info, id: Annotated[relay.GlobalID, strawberry.argument(
            description="A global id, as any object's `id` gives it. Unknown, or not yours to "
                        "see: NOT_FOUND (never told apart); not an id at all: "
                        "BAD_USER_INPUT.")]) -> relay.Node:
        node_type(id, info)
        try:
            node = await id.resolve_node(info, required=False)
        except (relay.GlobalIDValueError, ValueError) as exc:
            raise NotFound(field="id") from exc
        if node is None:
            raise NotFound(field="id")
        return node
