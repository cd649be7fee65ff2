"""Cost-based rate limits: what a query may return decides what it costs, before it runs.

The cost model (docs/partner-tokens.md has the worked example):

- a connection (`leads(first: 50)`) costs the most items it can return: its `first`/`last`
  (the page cap, 100, when neither is given), multiplied by the items its parents can return
  (`leads(first: 50) { nodes { notes(first: 3) } }` costs 50 + 50 * 3);
  (`me { memberships { nodes { organization { leads(first: 3) } } } }` costs 1 + 100 + 100 +
  100 * 3: a page of up to 100 memberships, each organization, each one's 3 leads);
- a plain list (not a connection) of objects costs its declared maximum length
  (`LIST_BOUNDS`, `schema/list_bounds.py`) per parent item, and multiplies what it holds like a
  connection. Only small fixed sets stay plain lists (a user's consents, one per kind); every
  one has a bound there, enforced where it is produced (a cap in the resolver or a limit on
  what can exist); a test walks the schema;
- any other object field (`owner`, `organization`) costs one item per parent item;
- scalars, enums (lists of them too, bounded all the same), `__typename`, introspection and
  the connection wrappers (`edges`, `nodes`, `node`, `pageInfo`) are free;
- each mutation field costs `MUTATION_COST` on top of what it selects; its payload object is a
  wrapper, free like `edges` (`createLead(...) { lead { id } }` costs MUTATION_COST + 1, the lead);
  a request costs at least 1.

A request above `MAX_COST` is refused before it runs (BAD_USER_INPUT, reason COST_LIMIT, with
`cost` and `maximum`). Otherwise the cost is taken from the caller's budget for the window: an
API token or an OAuth grant (a partner app in one org) spends its own, a signed-in person
theirs, an anonymous caller its IP's. A token's or grant's budget follows its organization's plan
(`BUDGETS_BY_PLAN`, `billing/budgets.py`); a person's follows the best plan among the
organizations they belong to
(`PERSON_BUDGETS_BY_PLAN`: before the query runs there is no single org to price a person by, and
a person working in a paying org should not be held to the free tier by another). Plans are
looked up once a minute per caller (`PLAN_CACHE_SECONDS`).
Budgets live in Redis when `REDIS_URL` is set (every process shares
them) and in process memory otherwise. A spent budget answers RATE_LIMITED with `retryAfter`.

Every response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds to
the window's end) and `extensions.cost { requested remaining resetAt limit }`; the `rateLimit`
query field answers the same. The cost of a document is computed once per query text into a
small plan (`CostPlan`) that only multiplies the page sizes, variables included, per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from core.errors import BadUserInput, RateLimited
from engine.fields import Info

MAX_COST = 10_000
"""The most one request may cost (Q1, the mobile home screen, costs 441)."""
DEFAULT_PAGE = 100
"""What a connection without `first`/`last` can return: the schema's page cap."""
MUTATION_COST = 10

# The cost of a document.

Factor = int | str  # a literal page size, or the name of the variable holding it
Term = tuple[Factor, ...]


@dataclass(frozen=True)
class CostPlan:
    """A document's cost as a sum of products of page sizes, some of them variables."""

    terms: tuple[Term, ...]
    defaults: dict[str, Any]

    def evaluate(self, variables: dict[str, Any] | None) -> int:
        variables = variables or {}
        total = 0
        for term in self.terms:
            product = 1
            for factor in term:
                product *= factor if isinstance(factor, int) else \
                    _page(variables.get(factor, self.defaults.get(factor)))
            total += product
        return max(1, total)


def _page(value: Any) -> int:
    """A `first`/`last` value as a page size; anything else (null, invalid) as the cap."""
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, 0), DEFAULT_PAGE)
    return DEFAULT_PAGE


def _page_factor(node: FieldNode) -> Factor:
    sizes: list[Factor] = []
    for argument in node.arguments or ():
        if argument.name.value not in {"first", "last"}:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            sizes.append(_page(int(value.value)))
        elif isinstance(value, VariableNode):
            sizes.append(value.name.value)
    if not sizes:
        return DEFAULT_PAGE
    literal = [size for size in sizes if isinstance(size, int)]
    return max(literal) if len(literal) == len(sizes) else sizes[0]


def _is_connection(field: Any, named: Any) -> bool:
    return named.name.endswith("Connection") and ("first" in field.args or "last" in field.args)


def _is_plain_list(field: Any) -> bool:
    field_type = field.type.of_type if is_non_null_type(field.type) else field.type
    return is_list_type(field_type)


def _is_wrapper(parent: Any) -> bool:
    """Fields of a connection or an edge (`edges`, `node`, `nodes`, `pageInfo`) add nothing:
    the connection counted its items."""
    return parent.name.endswith(("Connection", "Edge"))


class _Walker:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 bounds: Mapping[str, int]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.bounds = bounds
        self.terms: list[Term] = []

    def walk(self, parent: Any, selections: SelectionSetNode, factors: Term) -> None:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                self.field(parent, selection, factors)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(target or parent, selection.selection_set, factors)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    self.walk(target or parent, fragment.selection_set, factors)

    def field(self, parent: Any, node: FieldNode, factors: Term) -> None:
        name = node.name.value
        definition = getattr(parent, "fields", {}).get(name)
        if name.startswith("__") or definition is None:
            return
        named = get_named_type(definition.type)
        if is_leaf_type(named) or node.selection_set is None:
            return
        if _is_connection(definition, named):
            factors = (*factors, _page_factor(node))
            self.terms.append(factors)
        elif _is_wrapper(parent) or parent is self.schema.mutation_type:
            pass  # a connection's wrappers, or a mutation's payload
        elif _is_plain_list(definition):
            factors = (*factors, self.bounds.get(f"{parent.name}.{name}", DEFAULT_PAGE))
            self.terms.append(factors)
        else:
            self.terms.append(factors or (1,))
        self.walk(named, node.selection_set, factors)


def compile_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                 bounds: Mapping[str, int]) -> CostPlan:
    """The cost plan of one operation of a validated document; `bounds` are the schema's plain
    lists' bounds (`schema/list_bounds.py`)."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation = next((o for o in operations if operation_name is None
                      or (o.name and o.name.value == operation_name)), None)
    if operation is None:
        return CostPlan((), {})
    walker = _Walker(schema, fragments, bounds)
    root = {OperationType.QUERY: schema.query_type, OperationType.MUTATION: schema.mutation_type,
            OperationType.SUBSCRIPTION: schema.subscription_type}[operation.operation]
    if operation.operation is OperationType.MUTATION:
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode) and not selection.name.value.startswith("__"):
                walker.terms.append((MUTATION_COST,))
    if root is not None:
        walker.walk(root, operation.selection_set, ())
    defaults = {v.variable.name.value: value_from_ast_untyped(v.default_value)
                for v in operation.variable_definitions or () if v.default_value is not None}
    return CostPlan(tuple(walker.terms), defaults)


class CostPlans:
    """The cost plans of one schema's documents, by query text and operation name, the most
    recent 256; `bounds` are its plain lists' bounds (`schema/list_bounds.py`)."""

    def __init__(self, bounds: Mapping[str, int], maxsize: int = 256) -> None:
        self.bounds = dict(bounds)
        self.maxsize = maxsize
        self._plans: OrderedDict[tuple[str, str | None], CostPlan] = OrderedDict()

    def get(self, schema: GraphQLSchema, query: str, document: DocumentNode,
            operation_name: str | None) -> CostPlan:
        key = (query, operation_name)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = compile_cost(schema, document, operation_name, self.bounds)
            if len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        return plan


# The extension.

class CostLimit(SchemaExtension):
    """Price each operation before it runs, refuse it over the maximum or the caller's budget,
    and report the budget in headers and `extensions.cost`.

    The schema names its plain lists' bounds with `CostLimit.bounded(LIST_BOUNDS)`; the budgets
    are the app's (`services.cost_budgets`, priced by `billing/budgets.py`)."""

    plans: ClassVar[CostPlans] = CostPlans({})

    @classmethod
    def bounded(cls, bounds: Mapping[str, int]) -> type[CostLimit]:
        """This extension for a schema whose plain lists hold at most `bounds` items, with its
        own plan cache (a plan depends on the schema and its bounds, not on the text alone)."""
        return type(cls.__name__, (cls,), {"plans": CostPlans(bounds)})

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if getattr(context, "cost", None) is None and hasattr(context, "viewer"):
            # Refused before execution (syntax, validation, CSRF): nothing spent, still told.
            budgets = context.services.cost_budgets
            context.cost = await budgets.peek(await budgets.caller(context))
            self.headers(context)

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        context: Any = ctx.context
        if ctx.result is not None or ctx.graphql_document is None \
                or getattr(context, "charged", False):
            yield
            return
        plan = self.plans.get(ctx.schema._schema, ctx.query or "", ctx.graphql_document,
                              ctx.operation_name)
        refusal = await charge(context, plan.evaluate(ctx.variables))
        if refusal is not None:
            ctx.result = ExecutionResult(data=None, errors=[refusal])
        yield

    def get_results(self) -> dict[str, Any]:
        report = getattr(self.execution_context.context, "cost", None)
        return {"cost": report.as_extension()} if report is not None else {}

    @staticmethod
    def headers(context: Any) -> None:
        """The headers now; `extensions.cost` by `get_results`, and by the HTTP view for results
        that skip the extensions (a request refused before execution)."""
        context.response.headers.update(context.cost.headers())
        context.request.scope.setdefault("state", {})["cost"] = context.cost


async def charge(context: Any, cost: int) -> GraphQLError | None:
    """Take `cost` from the caller's budget, once per request (`context.charged`), and set the
    budget's headers: None, or why the operation may not run (over `MAX_COST`: nothing taken;
    the budget spent: RATE_LIMITED with `Retry-After`)."""
    budgets = context.services.cost_budgets
    caller = await budgets.caller(context)
    refusal: GraphQLError | None = None
    if cost > MAX_COST:
        context.cost = await budgets.peek(caller)
        context.cost.requested = cost
        refusal = BadUserInput(
            f"The query could return up to {cost:,} items; the most one request may ask "
            f"for is {MAX_COST:,}. Ask for smaller pages (`first`/`last`) or split it.",
            reason="COST_LIMIT", cost=cost, maximum=MAX_COST)
    else:
        allowed, context.cost = await budgets.spend(caller, cost)
        if not allowed:
            retry_after = max(1, context.cost.reset_in())
            context.response.headers["Retry-After"] = str(retry_after)
            refusal = RateLimited(
                f"This query costs {cost:,} and {context.cost.remaining:,} of your "
                f"{context.cost.limit:,} remain until {context.cost.reset_at.isoformat()}. "
                f"Try again in {retry_after} seconds.", retry_after=retry_after)
            refusal.extensions["reason"] = "COST_BUDGET"
    context.charged = True
    CostLimit.headers(context)
    return refusal


# The `rateLimit` query field.

@strawberry.type(description="Your query budget: what this request cost and what is left.")
class RateLimit:
    requested: int = strawberry.field(description="What this request cost.")
    remaining: int = strawberry.field(description="What is left of the budget in this window.")
    limit: int = strawberry.field(description="The budget of a window.")
    reset_at: datetime = strawberry.field(description="When the budget refills.")
    maximum: int = strawberry.field(description="The most one request may cost.")


@strawberry.type
class CostQueries:
    @strawberry.field(description="Your query budget after this request (the same numbers as "
                                  "the `RateLimit-*` headers and `extensions.cost`).")
    def rate_limit(self, info: Info) -> RateLimit:
        report = info.context.cost
        assert report is not None  # set by the cost extension before any field runs
        return RateLimit(requested=report.requested, remaining=report.remaining,
                         limit=report.limit, reset_at=report.reset_at, maximum=MAX_COST)
