"""A leaner GraphQL executor for the two kinds of field that dominate a page of results.

Strawberry wraps every field in a resolver (info object, argument conversion, extension chain)
even when the field only reads an attribute (`Lead.name`) or follows a foreign key through a
request loader (`Lead.owner`). On a page of 50 leads with their notes that is ~900 wrapped calls
per request. For fields without arguments or field extensions (so without permissions), this
executor does that work itself and hands the value to graphql-core's completion as usual, errors
and nulls included (a permission decided once per execution, `DecidedPermission`, counts as
none when it allows the caller):

- a plain field (no resolver) reads the attribute;
- a field declared with `relation(...)` metadata (see `engine/fields.py`) reads the key attribute
  and takes the row from the request's loader, synchronously when it is already loaded.

Every other field runs through Strawberry unchanged, and the declared resolvers stay the
reference implementation (they run wherever this executor does not, e.g. on subscriptions).

Before any of that, `execute_operation` asks for the operation's compiled plan
(`engine/compiler/`): a query the compiler handles is answered from rows by its plan, and falls
back to this executor when the plan abandons. The hook sits at the execute phase only, so
parsing, validation, limits, cost, error codes and masking are the same on both paths.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeGuard, cast

from graphql import GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.execution.executor import gather_with_cancel
from graphql.pyutils import Path, Undefined
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from core.loading import loaded
from engine.compiled import SubtreePlans
from engine.compiler import STATS, mode_of, plan_for, record_mismatch
from engine.compiler.plan import Plan
from engine.plans import allowed, field_plan
from models.base import BaseModel
from observability.metrics import count_compiled_operation


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """Strawberry's check, told first that our rows never are: for a row it would ask
    `hasattr(row, "__await__")`, which costs a raised exception (`models.base._NotAwaitable`)."""
    return not isinstance(value, BaseModel) and optimized_is_awaitable(value)


log = logging.getLogger("relleks.compiler")


def _ordered(value: Any) -> Any:
    """`value` with every object's key order made visible (JSON answers keep it): an object
    becomes a tuple of its (key, value) pairs, a list stays a list, so two answers' forms are
    equal exactly when the answers are equal with the same key order (`{}` and `[]` differ)."""
    if isinstance(value, dict):
        return tuple((key, _ordered(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def plan_did(context: Any, outcome: str) -> None:
    """Count what a compiled plan did ("answered" or "abandoned"), and tell the request."""
    if outcome == "answered":
        STATS.answered += 1
    else:
        STATS.abandoned += 1
    count_compiled_operation(outcome)
    if hasattr(context, "plan"):
        context.plan = outcome


def compare(operation: Any, data: Any, ordinary: Any) -> None:
    """Check mode: record a mismatch when the ordinary executor's answer differs from a plan's
    (`data`), key order included."""
    if ordinary.errors or _ordered(ordinary.data) != _ordered(data):
        name = operation.name.value if operation.name else "(anonymous)"
        record_mismatch(name, data, (ordinary.data, ordinary.errors))


class LeanExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable
        self._leaf_plans: dict[int, tuple[Any, list[Any]]] = {}
        self._subtree_plans = SubtreePlans(self)

    def execute_operation(self, serially: bool | None = None) -> Any:
        """The compiled plan's answer when there is one and it does not abandon; else (and in
        `check` mode, also) graphql-core's, which is returned in check mode after comparing."""
        plan = None
        if getattr(self.context_value, "plan", None) is None:  # once a request (engine/direct.py)
            try:
                plan = plan_for(self)
            except Exception:  # a compiler bug must never cost an answer
                log.exception("compiling an operation failed")
        if plan is None:
            return super().execute_operation(serially)
        return self._compiled(plan, serially)

    async def _compiled(self, plan: Plan, serially: bool | None) -> Any:
        try:
            data = await plan.run(self.context_value, self.variable_values)
        except Exception:  # Abandon, or anything unexpected: the ordinary executor answers
            data = None
        if data is None:
            plan_did(self.context_value, "abandoned")
            return await self._ordinary(serially)
        plan_did(self.context_value, "answered")
        if mode_of(self.context_value) == "check":
            ordinary = await self._ordinary(serially)
            compare(self.operation, data, ordinary)
            return ordinary
        return self.finish(self.build_response(data))

    async def _ordinary(self, serially: bool | None) -> Any:
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            result = await result
        return result

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """graphql-core's response, then the reference cycles through this context cut: its
        async helpers hold its bound methods, and so do the resolve infos in its plans. In those
        cycles everything the request loaded (the context, its loaders, every row: ~1,600
        objects on Q1) stayed alive until a full collection, which then walked the whole heap."""
        response = super().build_response(data)
        self.async_helpers = None  # type: ignore[assignment]  # ends the cycle; nothing reads it now
        self._subtree_plans.clear()  # their resolve infos hold the helpers too
        return response

    def build_per_event_executor(self, payload: Any) -> LeanExecutionContext:
        """A subscription's executor for one event, with memos of its own.

        graphql-core copies the subscription's executor shallowly for each event, so every copy
        shared its sub-field memo (`_relevant_sub_fields`) and ours (leaf and subtree plans).
        Each event collects its fields anew, into new objects, so every event added entries that
        no later one could hit, each keeping its field group alive: a live subscription grew
        the process by about 1.7 kB per event (the soak's 3 long-lived sockets: +37 MB in four
        minutes). An event's memos now live and die with it."""
        executor = cast("LeanExecutionContext", super().build_per_event_executor(payload))
        executor._relevant_sub_fields = {}
        executor._leaf_plans = {}
        executor._subtree_plans = SubtreePlans(executor)
        return executor

    def complete_object_value(self, return_type: GraphQLObjectType, field_details_list: Any,
                              info: Any, path: Any, result: Any,
                              position_context: Any) -> Any:
        """An object whose whole subtree is at hand is completed in one pass (see
        `engine/compiled.py`); anything else, or anything unexpected, the usual way."""
        plan = self._subtree_plans.for_object(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except Exception:  # noqa: S110 - graphql-core completes it again, errors included
                pass
        return super().complete_object_value(return_type, field_details_list, info, path,
                                             result, position_context)

    def _leaves(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[Any]:
        """Per selection set (memoised for the execution): for each response name, how to read
        it directly when it is a scalar attribute, else None."""
        key = id(grouped_field_set)
        cached = self._leaf_plans.get(key)
        if cached is not None and cached[0] is grouped_field_set:
            return cached[1]
        plans = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            field_def = self.schema.get_field(parent_type, node.name.value)
            plan = field_plan(field_def) if field_def is not None else None
            leaf = None
            if plan is not None and field_def is not None and plan[0] == "attribute" \
                    and not node.arguments \
                    and allowed(field_def.extensions["strawberry-definition"],
                                self.context_value):
                return_type = field_def.type
                named = return_type.of_type if isinstance(return_type, GraphQLNonNull) \
                    else return_type
                if is_leaf_type(named):
                    leaf = (plan[1], return_type, named)
            plans.append((response_name, field_details_list, leaf))
        self._leaf_plans[key] = (grouped_field_set, plans)  # keeps the key's object alive
        return plans

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any, path: Any,
                       grouped_field_set: Any, position_context: Any) -> Any:
        """graphql-core's `execute_fields`, with scalar attributes read in place (no Path, no
        resolve info): most of a page's fields are such leaves."""
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for response_name, field_details_list, leaf in self._leaves(parent_type,
                                                                        grouped_field_set):
                if leaf is not None:
                    attribute, return_type, named = leaf
                    try:
                        results[response_name] = self._serialize_leaf(
                            return_type, named, getattr(source_value, attribute))
                    except Exception as raw_error:
                        self.handle_field_error(raw_error, return_type, field_details_list,
                                                Path(path, response_name, parent_type.name))
                        results[response_name] = None
                    continue
                result = self.execute_field(parent_type, source_value, field_details_list,
                                            Path(path, response_name, parent_type.name),
                                            position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                results[awaitable_fields[0]] = await results[awaitable_fields[0]]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: Any, path: Any, position_context: Any) -> Any:
        node = field_details_list[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        plan = field_plan(field_def) if field_def is not None else None
        if plan is None or field_def is None or node.arguments or not allowed(
                field_def.extensions["strawberry-definition"],
                self.context_value):
            return super().execute_field(parent_type, source, field_details_list, path,
                                         position_context)
        return_type = field_def.type
        kind, attribute, loader_name = plan
        if kind == "attribute":
            leaf = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
            if is_leaf_type(leaf):
                # A scalar or enum: no sub-selection to complete, so no resolve info is needed.
                try:
                    return self._serialize_leaf(return_type, leaf, getattr(source, attribute))
                except Exception as raw_error:
                    self.handle_field_error(raw_error, return_type, field_details_list, path)
                    return None
        info = self.build_resolve_info(
            field_def, [d.node for d in field_details_list], parent_type, path)
        try:
            result = getattr(source, attribute)
            if kind == "relation" and result is not None:
                assert loader_name is not None  # a relation's plan names its loader
                result = loaded(getattr(self.context_value.loaders, loader_name), result)
                if self.is_awaitable(result):
                    return self.complete_awaitable_value(return_type, field_details_list, info,
                                                         path, result, position_context)
            return self.complete_value(return_type, field_details_list, info, path, result,
                                       position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    @staticmethod
    def _serialize_leaf(return_type: Any, leaf: Any, value: Any) -> Any:
        """graphql-core's leaf completion: null checks, then the type's serializer."""
        if value is None or value is Undefined:
            if isinstance(return_type, GraphQLNonNull):
                raise TypeError(f"Cannot return null for non-nullable field of type {leaf}.")
            return None
        serialized = leaf.serialize(value)
        if serialized is Undefined or serialized is None:
            raise TypeError(f"Expected `{leaf}.serialize({value!r})` to return non-nullable "
                            f"value, returned: {serialized!r}")
        return serialized
