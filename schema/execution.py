"""A leaner GraphQL executor: plain attribute fields are read directly.

Strawberry wraps every field in a resolver (info object, argument conversion, extension chain)
even when the field is a plain attribute of the object, like `Lead.name`. On a page of 50 leads
with notes that is ~900 wrapped calls per request. For a field with no resolver, no arguments and
no field extensions (so no permission), this executor reads the attribute itself and hands it to
graphql-core's completion as usual, errors and nulls included. Everything else runs unchanged.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLField, GraphQLObjectType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_ATTRIBUTE_CACHE: dict[int, str | None] = {}


def plain_attribute(field: GraphQLField) -> str | None:
    """The Python attribute a field reads, when reading it is all the field does."""
    key = id(field)
    if key not in _ATTRIBUTE_CACHE:
        definition = (field.extensions or {}).get("strawberry-definition")
        plain = (definition is not None and definition.base_resolver is None
                 and not definition.extensions and not field.args)
        _ATTRIBUTE_CACHE[key] = definition.python_name if plain else None
    return _ATTRIBUTE_CACHE[key]


class LeanExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: Any, path: Any, position_context: Any) -> Any:
        node = field_details_list[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        attribute = plain_attribute(field_def) if field_def is not None else None
        if attribute is None or node.arguments:
            return super().execute_field(parent_type, source, field_details_list, path,
                                         position_context)
        return_type = field_def.type  # type: ignore[union-attr]
        info = self.build_resolve_info(field_def, [d.node for d in field_details_list],  # type: ignore[arg-type]
                                       parent_type, path)
        try:
            result = getattr(source, attribute)
            return self.complete_value(return_type, field_details_list, info, path, result,
                                       position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
