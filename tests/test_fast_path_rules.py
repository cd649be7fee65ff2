"""The fast path's rules, checked on every field it may run (`engine/compiled.py`).

A compiled plan calls a field's synchronous resolver itself, and when anything unexpected
happens it abandons the object and graphql-core completes it again: a planned resolver may run
twice, so it must be a read; and the resolve info it gets is built once per field, so its
`info.path` names the first object only and must not be read. This walks the schema and reads
each such resolver's own body (the helpers it calls are the reviewer's to check): no
`info.path`, no write, no await. Relation fields must be declared with
`engine.fields.relation`, which builds the resolver and the plan's metadata from one
declaration.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import pytest
from graphql import GraphQLObjectType
from strawberry.types.base import StrawberryObjectDefinition

import schema as api_schema
from engine.fields import RELATION, relation_of
from engine.plans import decided_permissions

WRITES = {"save", "update", "create", "delete", "bulk_create", "bulk_update", "get_or_create",
          "update_or_create", "in_transaction", "writer", "record", "write_event", "send"}


def _object_definitions() -> list[StrawberryObjectDefinition]:
    return [graphql_type.extensions["strawberry-definition"]
            for graphql_type in api_schema.schema._schema.type_map.values()
            if isinstance(graphql_type, GraphQLObjectType)
            and isinstance((graphql_type.extensions or {}).get("strawberry-definition"),
                           StrawberryObjectDefinition)]


def _planned_resolvers() -> list[tuple[str, Any]]:
    found = []
    for definition in _object_definitions():
        for field in definition.fields:
            resolver = field.base_resolver
            if resolver is None or resolver.is_async or decided_permissions(field) is None:
                continue  # never planned: graphql-core runs it, once
            found.append((f"{definition.name}.{field.name}", resolver.wrapped_func))
    return found


def _problems(function: Any) -> list[str]:
    function = inspect.unwrap(function)
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return []
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "path" \
                and isinstance(node.value, ast.Name) and node.value.id == "info":
            problems.append("reads info.path")
        elif isinstance(node, ast.Await):
            problems.append("awaits")
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else \
                node.func.id if isinstance(node.func, ast.Name) else None
            if called in WRITES:
                problems.append(f"calls {called}()")
    return problems


@pytest.mark.no_db
def test_planned_resolvers_are_reads_that_never_read_info_path() -> None:
    resolvers = _planned_resolvers()
    assert len(resolvers) > 20  # the walk found the schema's synchronous resolvers
    broken = {name: problems for name, function in resolvers
              if (problems := _problems(function))}
    assert broken == {}


@pytest.mark.no_db
def test_every_relation_is_declared_once() -> None:
    """A field with relation metadata runs the resolver `relation` made from the same
    declaration, never a hand-written one that could follow another link."""
    relations = {}
    for definition in _object_definitions():
        for field in definition.fields:
            if RELATION in (field.metadata or {}):
                relations[f"{definition.name}.{field.name}"] = field
    assert {"Lead.owner", "Note.author", "Membership.user"} <= set(relations)
    for name, field in relations.items():
        key, loader = field.metadata[RELATION]
        assert field.base_resolver is not None, name
        assert relation_of(field.base_resolver.wrapped_func) == (key, loader), \
            f"{name} follows its relation by hand: declare it with relation()"


def _reads_path(root: Any, info: Any) -> Any:
    return info.path.key


def _writes(root: Any, info: Any) -> Any:
    return root.save()


@pytest.mark.no_db
def test_the_walk_sees_what_it_forbids() -> None:
    """The rule's own check: a resolver that reads `info.path` or writes is caught."""
    assert _problems(_reads_path) == ["reads info.path"]
    assert _problems(_writes) == ["calls save()"]
