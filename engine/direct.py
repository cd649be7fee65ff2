"""A query answered by its compiled plan without Strawberry's execute around it.

A compiled plan (`engine/compiler/`) answers Q1 in a third of the request's CPU; Strawberry's
`Schema.execute` around it cost another sixth: an execution context, ten extensions' hooks at
four phases, graphql-core's executor set up and torn down, all for a plan that needs none of it.
For a document already known valid, `DirectAnswers.answer` does what those steps do for a plan,
and nothing else:

- the document: a trusted one (`engine/documents.py`: parsed and validated at start), or a text
  this process saw answered by a plan before (`remember`: it passed parsing and validation with
  the limits then, and the same text against the same schema always does), at most
  `COMPILED_OPERATIONS_MAX` texts, least recently used dropped;
- the operation it names, a query; its variables refused with NUL anywhere (`NulGuard`'s rule)
  and coerced as graphql-core does: any problem is left to the ordinary path, which reports it;
- the access log's operation name and type (`OperationName`);
- the cost, priced and charged as `CostLimit` does it (`engine.cost.charge`: the same headers,
  errors and `extensions.cost`);
- the plan run on one pooled connection (`OneConnectionPerQuery`).

None (the caller runs the ordinary path) whenever any of this does not apply: a mutation, an
unknown text, tracing on (its spans come from the extensions), a plan that abandons (a refused
permission, NOT_FOUND, a support read...). The context then says the cost is charged and the
plan abandoned, so neither happens twice. Errors are the ordinary path's to give; an answer given
here has none. `COMPILED_OPERATIONS=check` runs the ordinary path after each answer and
compares, as the executor's check does.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
)
from graphql.execution.values import get_variable_values
from strawberry.types import ExecutionResult

from database import one_connection
from engine.compiler import STATS, mode_of, plan_of
from engine.cost import CostLimit, charge
from engine.execution import compare, plan_did
from engine.extensions import Tracing, has_nul


class DirectAnswers:
    """Documents known valid (by text), and answering their queries from plans."""

    def __init__(self, schema: Any, size: int) -> None:
        self.schema = schema  # Strawberry's
        self.size = max(0, size)
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        cost_limits = [extension for extension in schema.extensions
                       if isinstance(extension, type) and issubclass(extension, CostLimit)]
        self.cost_plans = cost_limits[0].plans if cost_limits else CostLimit.plans
        # Off with tracing (its spans come from the extensions' hooks), and for a schema that
        # prices nothing (the direct path could not charge what the ordinary one does not).
        self.enabled = bool(cost_limits) and \
            not any(extension is Tracing for extension in schema.extensions)

    def __len__(self) -> int:
        return len(self._documents)

    def remember(self, text: str) -> None:
        """`text` was just parsed, validated and answered by a plan on the ordinary path."""
        if self.size == 0 or text in self._documents:
            return
        self._documents[text] = parse(text)
        while len(self._documents) > self.size:
            self._documents.popitem(last=False)

    def document(self, text: str) -> DocumentNode | None:
        document = self._documents.get(text)
        if document is not None:
            self._documents.move_to_end(text)
        return document

    async def answer(self, context: Any, text: str, document: DocumentNode | None,
                     variables: dict[str, Any] | None,
                     operation_name: str | None) -> ExecutionResult | None:
        """The answer, or a refusal of the cost; None: the ordinary path answers."""
        if not self.enabled or mode_of(context) == "off":
            return None
        if document is None:
            document = self.document(text)
            if document is None:
                return None
        operation = get_operation_ast(document, operation_name)
        if not isinstance(operation, OperationDefinitionNode) \
                or operation.operation is not OperationType.QUERY:
            return None
        variables = variables or {}
        if has_nul(variables):
            return None
        schema = self.schema._schema
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):  # the ordinary path reports them
            return None
        fragments = {definition.name.value: definition for definition in document.definitions
                     if isinstance(definition, FragmentDefinitionNode)}
        plan = plan_of(schema, context, operation, fragments, coerced)
        if plan is None:
            return None
        state = context.request.scope.setdefault("state", {})
        state["operation_name"] = operation.name.value[:100] if operation.name else None
        state["operation_type"] = OperationType.QUERY.value
        name = operation.name.value if operation.name else None
        cost = self.cost_plans.get(schema, text, document, name).evaluate(variables)
        refusal = await charge(context, cost)
        if refusal is not None:
            return ExecutionResult(data=None, errors=[refusal])
        async with one_connection():
            try:
                data = await plan.run(context, coerced)
            except Exception:  # Abandon, or anything unexpected: the ordinary path answers
                plan_did(context, "abandoned")
                return None
            plan_did(context, "answered")
            STATS.direct += 1
            if mode_of(context) == "check":  # on the same connection, as one request would
                ordinary = await self.schema.execute(text, variable_values=variables,
                                                     context_value=context,
                                                     operation_name=operation_name)
                compare(operation, data, ordinary)
                return ordinary
        return ExecutionResult(data=data, errors=None)
