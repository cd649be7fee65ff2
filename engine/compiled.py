"""Completing a whole selection subtree in one pass, once everything below it is at hand.

A connection prefetches what its page needs (the rows, the rows they point to, each lead's first
notes), so every field below it could answer synchronously. graphql-core still walks the subtree
field by field: a `Path`, often a resolve info, and half a dozen calls per field, which on Q1's
page of 50 leads is most of the request's CPU.

For an object type and selection whose every field (recursively) is one of

- an attribute read, or a relation already in the request's loader (`engine.fields.relation`);
- a synchronous resolver without field extensions (so without permissions), whose arguments are
  plain scalars (`Int`, `String`, `Boolean`, `Float`, `ID`),

and whose only permissions, if any, are decided once per execution and allow the caller
(`engine.permissions.DecidedPermission`, e.g. a User's `email`: a refused one abandons the plan,
and graphql-core raises the refusal where the field is),

`SubtreePlans` builds, once per execution, a plan of small closures, and `LeanExecutionContext`
completes each such object with it. Anything unexpected while running a plan (an awaitable, a null
in a non-null field, an exception) abandons it for that object, and graphql-core completes the
object the ordinary way, errors and all: a plan is only a shortcut to the same answer. Resolvers
may thus run twice for an abandoned object; they are reads, and loaders hand back the same rows.

The resolve info a planned resolver receives is built once per field, so its `path` names the
first object only: resolvers must not depend on it (none does; errors come from the fallback).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from core.loading import NOT_LOADED, peek
from engine.plans import allowed, field_plan

ObjectPlan = Callable[[Any], dict[str, Any]]
Finish = Callable[[Any], Any]
Read = Callable[[Any], Any]

PLAIN_SCALARS = frozenset({"Int", "String", "Boolean", "Float", "ID"})


class Abandon(Exception):
    """This object (or selection) cannot be completed by a plan: complete it the usual way."""


def _identity(value: Any) -> Any:
    return value


class SubtreePlans:
    """The plans of one execution, keyed like graphql-core's sub-field cache: by object type and
    the identity of the field group (kept alive with the plan, so its id is never reused)."""

    def __init__(self, execution: StrawberryGraphQLCoreExecutionContext) -> None:
        # A proxy: the execution holds its plans, and plans holding the execution would make a
        # cycle that keeps the request's whole object graph alive until a full collection.
        self.execution = weakref.proxy(execution)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, ObjectPlan | None]] = {}

    def clear(self) -> None:
        """Forget every plan (the execution is over)."""
        self._plans.clear()

    def for_object(self, object_type: GraphQLObjectType, field_group: Any) -> ObjectPlan | None:
        key = (object_type, id(field_group))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        self._plans[key] = (field_group, None)
        try:
            plan: ObjectPlan | None = self._object(object_type, field_group)
        except Exception:  # anything the plan cannot express: graphql-core's way
            plan = None
        self._plans[key] = (field_group, plan)
        return plan

    def _object(self, object_type: GraphQLObjectType, field_group: Any) -> ObjectPlan:
        if any(d.defer_usage is not None or d.fragment_variable_values for d in field_group):
            raise Abandon
        grouped, new_defer_usages, _ = self.execution.collect_subfields(object_type, field_group)
        if new_defer_usages:
            raise Abandon
        steps = tuple((name, *self._field(object_type, name, group))
                      for name, group in grouped.items())
        is_type_of: Callable[[Any, Any], Any] | None = object_type.is_type_of  # ours take no info

        def complete(source: Any) -> dict[str, Any]:
            if is_type_of is not None and not is_type_of(source, None):
                raise Abandon
            return {name: finish(read(source)) for name, read, finish in steps}

        return complete

    def _field(self, parent: GraphQLObjectType, response_name: str,
               group: Any) -> tuple[Read, Finish]:
        node = group[0].node
        field_name = node.name.value
        if field_name == "__typename":
            type_name = parent.name
            return (lambda _source: type_name), _identity
        field = self.execution.schema.get_field(parent, field_name)
        definition = (field.extensions or {}).get("strawberry-definition") if field else None
        if field is None or definition is None \
                or not allowed(definition, self.execution.context_value):
            raise Abandon
        finish = self._completer(field.type, group)
        is_awaitable = self.execution.is_awaitable

        plan = field_plan(field)
        if plan is not None:
            kind, attribute, loader_name = plan
            if kind == "attribute":
                return attrgetter(attribute), finish
            assert loader_name is not None  # a relation's plan names its loader
            loader = getattr(self.execution.context_value.loaders, loader_name)

            def related(source: Any) -> Any:
                key = getattr(source, attribute)
                if key is None:
                    return None
                value = peek(loader, key)
                if value is NOT_LOADED:
                    raise Abandon
                return value

            return related, finish

        resolver = definition.base_resolver
        if resolver is None or resolver.is_async:
            raise Abandon
        kwargs = self._arguments(field, definition, node)
        if resolver.info_parameter is not None:
            raw_info = self.execution.build_resolve_info(
                field, [d.node for d in group], parent, Path(None, response_name, parent.name))
            info_class = self.execution.schema._strawberry_schema.config.info_class
            kwargs[resolver.info_parameter.name] = info_class(_raw_info=raw_info,
                                                              _field=definition)
        source_names = [p.name for p in (resolver.parent_parameter, resolver.root_parameter)
                        if p is not None]
        pass_self = resolver.self_parameter is not None

        def resolve(source: Any) -> Any:
            call_kwargs = dict(kwargs)
            for name in source_names:
                call_kwargs[name] = source
            value = resolver(source, **call_kwargs) if pass_self else resolver(**call_kwargs)
            if is_awaitable(value):
                close = getattr(value, "close", None)
                if close is not None:
                    close()  # a coroutine not started: the ordinary path calls the resolver again
                raise Abandon
            return value

        return resolve, finish

    def _arguments(self, field: Any, definition: Any, node: Any) -> dict[str, Any]:
        """The field's arguments as the resolver's keywords; plain scalars only (anything that
        Strawberry would convert, such as inputs and enums, is left to Strawberry)."""
        for argument in field.args.values():
            named = argument.type.of_type if isinstance(argument.type, GraphQLNonNull) \
                else argument.type
            if not isinstance(named, GraphQLScalarType) or named.name not in PLAIN_SCALARS:
                raise Abandon
        values = get_argument_values(field, node, self.execution.variable_values)
        converter = self.execution.schema._strawberry_schema.config.name_converter
        return {argument.python_name: values[converter.from_argument(argument)]
                for argument in definition.arguments
                if converter.from_argument(argument) in values}

    def _completer(self, output_type: GraphQLOutputType, group: Any) -> Finish:
        """How to complete a value of `output_type`: one closure per level, the non-null
        check folded into it (a plan runs these ~1,000 times per page)."""
        required = isinstance(output_type, GraphQLNonNull)
        if isinstance(output_type, GraphQLNonNull):
            output_type = output_type.of_type
        if isinstance(output_type, GraphQLList):
            item = self._completer(output_type.of_type, group)

            def items(value: Any) -> Any:
                if value is None or value is Undefined:
                    if required:
                        raise Abandon
                    return None
                if not isinstance(value, list | tuple):
                    raise Abandon
                return [item(one) for one in value]

            return items
        if is_leaf_type(output_type):
            serialize = output_type.serialize
            is_string = output_type.name == "String"

            def leaf(value: Any) -> Any:
                if is_string and type(value) is str:
                    return value
                if value is None or value is Undefined:
                    if required:
                        raise Abandon
                    return None
                serialized = serialize(value)
                if serialized is None or serialized is Undefined:
                    raise Abandon
                return serialized

            return leaf
        if isinstance(output_type, GraphQLObjectType):
            plan = self.for_object(output_type, group)
            if plan is None:
                raise Abandon

            def child(value: Any) -> Any:
                if value is None or value is Undefined:
                    if required:
                        raise Abandon
                    return None
                return plan(value)

            return child
        raise Abandon  # interfaces and unions: the runtime type is graphql-core's to find
