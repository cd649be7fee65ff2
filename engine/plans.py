"""Which fields the engine may complete without Strawberry: the plan of one field.

A field is planned when it takes no arguments and its permissions, if any, are decided once per
execution (`engine.permissions.DecidedPermission`): an attribute read, or a relation declared
with `engine.fields.relation`. `engine.compiled` builds plans of whole subtrees from these;
`engine.execution` runs them.
"""

from __future__ import annotations

from typing import Any, cast

from graphql import GraphQLField
from strawberry.permission import PermissionExtension

from engine.fields import RELATION
from engine.permissions import DecidedPermission

# Kept on the field object itself: a cache keyed by id(field) gave a field the plan of another
# whose discarded schema had held that id (every app builds its own schema).
_PLAN = "_relleks_plan"
_DECIDED = "_relleks_decided"
_UNPLANNED = object()


def decided_permissions(definition: Any) -> tuple[DecidedPermission, ...] | None:
    """The field's permissions when every extension it has is one decided once per execution
    (`engine.permissions.DecidedPermission`; none at all gives `()`), else None."""
    found: list[DecidedPermission] = []
    for extension in definition.extensions:
        if not isinstance(extension, PermissionExtension) or not all(
                isinstance(p, DecidedPermission) for p in extension.permissions):
            return None
        found.extend(cast("list[DecidedPermission]", extension.permissions))  # checked above
    return tuple(found)


def allowed(definition: Any, context: Any) -> bool:
    """Whether this execution may read the field past its extensions: it has none, or only
    decided permissions that allow the caller (a refusal is Strawberry's to raise)."""
    if not definition.extensions:
        return True
    permissions = getattr(definition, _DECIDED, _UNPLANNED)
    if permissions is _UNPLANNED:
        permissions = decided_permissions(definition)
        setattr(definition, _DECIDED, permissions)
    decided = cast("tuple[DecidedPermission, ...] | None", permissions)
    return decided is not None and all(p.allows(context) for p in decided)


def field_plan(field: GraphQLField) -> tuple[str, str, str | None] | None:
    """("attribute", name, None), ("relation", key attribute, loader name) or None (run the
    field through Strawberry). A field with decided permissions is planned, and `allowed` says
    per execution whether the plan may be used."""
    plan = getattr(field, _PLAN, _UNPLANNED)
    if plan is _UNPLANNED:
        definition = (field.extensions or {}).get("strawberry-definition")
        plan = None
        if definition is not None and not field.args \
                and decided_permissions(definition) is not None:
            relation = (definition.metadata or {}).get(RELATION)
            if relation is not None:
                plan = ("relation", relation[0], relation[1])
            elif definition.base_resolver is None:
                plan = ("attribute", definition.python_name, None)
        setattr(field, _PLAN, plan)
    return cast("tuple[str, str, str | None] | None", plan)
