"""Compiled operations: a query seen before is answered by a plan built once.

`LeanExecutionContext.execute_operation` (`engine/execution.py`) asks `plan_for(execution)`
for the plan of its operation, cached per schema by the document's text, the operation's name
and the variables' shapes (which are null, which absent, of which kind), in a bounded LRU
(`COMPILED_OPERATIONS_MAX`: a stranger sending endless distinct documents evicts older plans,
memory does not grow). An operation the compiler does not handle is cached as such (None), so
it is not compiled again. Everything around the execution stays as it is: parsing and
validation caches, the limits, the query cost and its headers, the CSRF guard, error codes and
masking, logs and traces.

A plan checks its permissions once, reads one statement per level through the request's tenant
scope and builds the answer from the rows (`engine/compiler/plan.py`). When it cannot answer as
the ordinary executor would (a refused permission, a support read, an unreadable value, an
argument out of range), it abandons and the ordinary executor answers, errors included.

`COMPILED_OPERATIONS=check` (the test suite) runs the ordinary executor after every compiled
answer and compares: a mismatch is logged and recorded (`MISMATCHES`), and the tests fail on it
(`tests/conftest.py`). `STATS` counts what happened, per process (the tests read it); the same
counts go to Prometheus (`relleks_compiled_*`, `observability/metrics.py`), summed over processes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from graphql import OperationDefinitionNode
from tortoise import connections

from engine.compiler.declare import COMPILED, LocatedRow, PageOf, PageQuery, RowById, compiled
from engine.compiler.plan import Plan, Uncompilable, compile_operation
from observability.metrics import count_compiled_mismatch, count_compiled_plan

__all__ = ["COMPILED", "MISMATCHES", "STATS", "LocatedRow", "OperationCache", "PageOf", "PageQuery",
           "Plan", "RowById",
           "cached_plans", "compiled", "mode_of", "plan_for", "plan_of", "record_mismatch"]

log = logging.getLogger("relleks.compiler")


@dataclass
class Stats:
    """Counts of this process: plans compiled, operations refused by the compiler, answers
    given by a plan (`direct`: of them, those given without Strawberry's execute,
    `engine/direct.py`), plans abandoned for the ordinary executor, and check-mode
    mismatches."""

    compiled: int = 0
    uncompilable: int = 0
    answered: int = 0
    direct: int = 0
    abandoned: int = 0
    mismatches: int = 0


STATS = Stats()
MISMATCHES: deque[str] = deque(maxlen=50)
"""The last check-mode mismatches (operation and both answers), newest last."""


def record_mismatch(operation: str, compiled_answer: Any, ordinary: Any) -> None:
    STATS.mismatches += 1
    count_compiled_mismatch()
    text = f"{operation}: compiled {compiled_answer!r} != ordinary {ordinary!r}"
    MISMATCHES.append(text)
    log.error("compiled operation differs from the ordinary executor's answer: %s", text[:4000])


class OperationCache:
    """Plans (or None: not compilable) by operation key, least recently used dropped past
    `size` entries."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self.plans: OrderedDict[Any, Plan | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self.plans)

    def get(self, key: Any) -> tuple[bool, Plan | None]:
        plan = self.plans.get(key, _MISSING)
        if plan is _MISSING:
            return False, None
        self.plans.move_to_end(key)
        return True, plan

    def put(self, key: Any, plan: Plan | None) -> None:
        if self.size > 0:
            self.plans[key] = plan
            self.plans.move_to_end(key)
        while len(self.plans) > self.size:
            self.plans.popitem(last=False)


_MISSING: Any = object()
_CACHE = "_relleks_compiled_operations"


def mode_of(context: Any) -> str:
    """`on`, `off` or `check`: the context's `COMPILED_OPERATIONS` (off without settings)."""
    settings = getattr(getattr(context, "services", None), "settings", None)
    return getattr(settings, "compiled_operations", "off")


def cache_of(schema: Any, context: Any) -> OperationCache:
    """The schema's plan cache, bounded by the settings of the app asking (apps built in one
    process, as the tests build them, may share a schema)."""
    size = context.services.settings.compiled_operations_max
    cache = schema.__dict__.get(_CACHE)
    if cache is None:
        cache = OperationCache(size)
        setattr(schema, _CACHE, cache)
    cache.size = max(0, size)
    return cache


def cached_plans(schema: Any) -> int:
    """How many operations (compiled or refused) the schema's cache holds now: the
    Strawberry schema or its graphql-core schema."""
    schema = getattr(schema, "_schema", schema)
    cache = schema.__dict__.get(_CACHE)
    return 0 if cache is None else len(cache)


def _shape(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return tuple(sorted((k, _shape(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("list", tuple(sorted({_shape(v) for v in value}, key=repr)))
    return type(value).__name__


def operation_key(operation: OperationDefinitionNode, variables: dict[str, Any]) -> Any:
    """The document's text, the operation's name and the variables' shapes; None when the
    document has no text (parsed without locations)."""
    loc = operation.loc
    if loc is None:
        return None
    name = operation.name.value if operation.name else None
    return (loc.source.body, name,
            tuple(sorted((key, _shape(value)) for key, value in variables.items())))


def plan_for(execution: Any) -> Plan | None:
    """The compiled plan of this execution's operation, compiled on first sight; None when the
    compiler does not handle it (or compiled operations are off)."""
    return plan_of(execution.schema, execution.context_value, execution.operation,
                   execution.fragment_definitions, execution.variable_values)


def plan_of(schema: Any, context: Any, operation: OperationDefinitionNode,
            fragments: dict[str, Any], variable_values: Any) -> Plan | None:
    """`plan_for` of an operation about to run on graphql-core's `schema` with `context` and
    its coerced `variable_values` (`engine/direct.py` asks before any executor exists)."""
    if mode_of(context) == "off":
        return None
    key = operation_key(operation, variable_values.coerced)
    if key is None:
        return None
    cache = cache_of(schema, context)
    found, plan = cache.get(key)
    if found:
        return plan
    try:
        postgres = connections.get("default").capabilities.dialect == "postgres"
        plan = compile_operation(schema, operation, fragments, variable_values, postgres)
        STATS.compiled += 1
        count_compiled_plan("compiled")
    except Uncompilable as exc:
        plan = None
        STATS.uncompilable += 1
        count_compiled_plan("uncompilable")
        log.debug("not compiled (%s): %s", exc, key[1])
    cache.put(key, plan)
    return plan
