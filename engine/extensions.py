"""Schema extensions of our own: error codes and masking, the CSRF guard, the directive limit,
the refusal of text holding NUL and of literals out of range, and the operation name for the
access log.

The rest (depth, alias and token limits, parser and validation caches) are Strawberry's own and
are wired in `schema/__init__.py`. `finalize_errors` is also the HTTP view's last pass over a
result, because an error raised while parsing (the token limit, through `ParserCache`) leaves the
operation before any extension sees it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import structlog
from dateutil.parser import isoparse
from graphql import (
    ArgumentNode,
    ASTValidationRule,
    DirectiveNode,
    ExecutionResult,
    GraphQLError,
    Node,
    ObjectFieldNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableDefinitionNode,
    get_named_type,
)
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.graphql import OperationType

from auth.cookies import csrf_problem
from core import tracing
from core.error_reports import report_exception
from core.errors import ErrorCode, Forbidden
from database import one_connection
from models.base import check_storable

log = structlog.get_logger("relleks.errors")

INTERNAL_MESSAGE = "Internal error: the request id lets support find it."

# graphql-core's `did_you_mean`: " Did you mean 'a', 'b', or 'c'?", optionally with a sub-message.
SUGGESTION = re.compile(
    r" Did you mean (?:to use an inline fragment on |the enum value )?"
    r"'[^']*'(?:(?:,| or|, or) '[^']*')*\?")
# A variable's coercion error ends by echoing the value it got (a whole input object, password
# included, for an unknown or missing field): the client sent it, so it needs no echo.
VALUE_ECHO = re.compile(r"[,;.]? [Ff]ound: .*$", re.DOTALL)
VARIABLE = re.compile(
    r"^Variable '\$(?P<name>\w+)' has invalid value(?: at (?P<path>[\w.\[\]]+))?:")
NAMED_FIELD = re.compile(r"(?:unknown|required) field '(?P<field>\w+)'")
PAGE_ARGUMENT = re.compile(r"^Argument '(?P<arg>first|last|before|after)' ")
PAGE_SIZE = re.compile(r"^Argument '(?:first|last)' cannot be higher than (?P<limit>\d+)\.")

# Strawberry's limiters report plain messages; each gets a stable `reason` and a clearer text.
LIMITS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"exceeds maximum operation depth of (?P<limit>\d+)"), "DEPTH_LIMIT",
     "The query nests fields more than {limit} levels deep: split it or ask for less."),
    (re.compile(r"^\d+ aliases found\. Allowed: (?P<limit>\d+)"), "ALIAS_LIMIT",
     "The query uses more than {limit} aliases."),
    (re.compile(r"Document contains more than (?P<limit>\d+) tokens"), "TOKEN_LIMIT",
     "The query is longer than {limit} tokens: split it or use fragments less."),
    # graphql-core's own budget for comparing overlapping fields and walking fragments.
    (re.compile(r"^Validation aborted\.$"), "VALIDATION_LIMIT",
     "The query is too costly to validate: it repeats or overlaps too many fields."),
)


def is_client_error(error: GraphQLError) -> bool:
    """Errors the client caused, whose message is meant for it.

    Ours (ApiError, a GraphQLError), GraphQL's own syntax, validation and coercion errors (no
    original exception, or a GraphQLError), and a scalar refusing a literal or a variable
    (graphql-core keeps the scalar's ValueError/TypeError as the original error of an error
    that points into the document and has no result path). Anything else raised while
    resolving is internal.
    """
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return True
    return error.path is None and bool(error.nodes) and isinstance(original, ValueError | TypeError)


def _variable_fields(message: str) -> dict[str, str] | None:
    """`extensions.fields` for a variable coercion error: the input field it points at."""
    match = VARIABLE.match(message)
    if match is None:
        return None
    problem = message[match.end():].strip()
    parts = [part for part in re.split(r"[.\[\]]", match["path"] or "") if part]
    named = NAMED_FIELD.search(problem)
    if named:
        parts.append(named["field"])
    return {".".join(parts) or match["name"]: problem}


def _client_error(error: GraphQLError, hide_suggestions: bool) -> GraphQLError:
    extensions = dict(error.extensions or {})
    extensions.setdefault("code", ErrorCode.BAD_USER_INPUT.value)
    message = error.message
    if hide_suggestions:
        message = SUGGESTION.sub("", message)
    if VARIABLE.match(message):
        message = VALUE_ECHO.sub("", message).rstrip()
        if not message.endswith((".", "?")):
            message += "."
        extensions.setdefault("fields", _variable_fields(message))
    if "reason" not in extensions:
        for pattern, reason, text in LIMITS:
            found = pattern.search(message)
            if found:
                limit = found.groupdict().get("limit")
                message = text.format(limit=limit)
                extensions.update(code=ErrorCode.BAD_USER_INPUT.value, reason=reason)
                if limit is not None:
                    extensions["limit"] = int(limit)
                break
        page = PAGE_ARGUMENT.match(message)
        if page:
            extensions["fields"] = {page["arg"]: message}
            size = PAGE_SIZE.match(message)
            if size:
                extensions.update(reason="PAGE_SIZE", limit=int(size["limit"]))
    return GraphQLError(message, nodes=error.nodes, source=error.source,
                        positions=error.positions, path=error.path,
                        original_error=error.original_error, extensions=extensions)


def internal_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """Log an unexpected error with its traceback and hand the client only the request id."""
    original = error.original_error
    log.error("graphql.internal_error", request_id=request_id, path=error.path,
              error_type=type(original).__name__ if original else "GraphQLError",
              exc_info=(type(original), original, original.__traceback__) if original else None)
    report_exception(original or error, request_id=request_id)
    return GraphQLError(INTERNAL_MESSAGE, nodes=error.nodes, path=error.path,
                        extensions={"code": ErrorCode.INTERNAL.value, "requestId": request_id})


def _refused_nul(error: GraphQLError) -> bool:
    """PostgreSQL refuses text holding NUL (U+0000) wherever it meets it, so any text argument
    a resolver hands to a query can fail this way: that is the client's input, not our bug."""
    seen: Exception | BaseException | None = error.original_error
    for _ in range(5):
        if seen is None:
            return False
        if "0x00" in str(seen) and "UTF8" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


NUL_MESSAGE = "Text may not contain the NUL character (U+0000)."
NUL_PROBLEM = "may not contain the NUL control character (U+0000)"


def _nul_error(error: GraphQLError) -> GraphQLError:
    return GraphQLError(NUL_MESSAGE, nodes=error.nodes,
                        path=error.path, extensions={"code": ErrorCode.BAD_USER_INPUT.value,
                                                     "reason": "NUL_CHARACTER"})


def finalize_errors(errors: list[GraphQLError], *, request_id: str,
                    hide_suggestions: bool) -> list[GraphQLError]:
    """Every error with a stable `extensions.code`; internal ones masked and logged.

    Safe to run twice on the same errors (the view runs it after `ErrorCodes`)."""
    return [_client_error(error, hide_suggestions) if is_client_error(error)
            else _nul_error(error) if _refused_nul(error)
            else internal_error(error, request_id) for error in errors]


class ErrorCodes(MaskErrors):
    """Give every error a stable `extensions.code`, and hide what the client must not see.

    Client errors keep their message; GraphQL's own get BAD_USER_INPUT, and the limits a
    `reason` (DEPTH_LIMIT, ALIAS_LIMIT, TOKEN_LIMIT, VALIDATION_LIMIT, PAGE_SIZE). Any other
    exception is logged with the request id and reaches the client as INTERNAL with that id,
    without its message, stack, SQL or paths. With introspection off, "Did you mean ...?"
    hints are cut too, since they spell out the schema one guess at a time.
    """

    def __init__(self, hide_suggestions: bool = False) -> None:
        super().__init__(error_message=INTERNAL_MESSAGE)
        self.hide_suggestions = hide_suggestions

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = getattr(self.execution_context.context, "request_id", "-")
        finalized = finalize_errors(errors, request_id=request_id,
                                    hide_suggestions=self.hide_suggestions)
        forget_tracebacks(errors)
        return finalized


def forget_tracebacks(errors: list[GraphQLError]) -> None:
    """Drop the tracebacks of the exceptions behind `errors`, once they are logged.

    graphql-core keeps the error it makes of a resolver's exception in a local of the frame that
    caught it, and that frame is on the exception's traceback: a reference cycle holding every
    frame down to the resolver, with their locals (the variables, a CSV file's text). Only the
    cyclic collector frees it, long after the answer went, and thousands of refused requests
    with large variables added up to hundreds of MB (`tests/http/test_memory_bound.py`).
    Without the traceback there is no cycle and the frames go with the request."""
    for error in errors:
        if error.original_error is not None:
            error.original_error.__traceback__ = None


class OperationName(SchemaExtension):
    """Hand the operation's name and type to the access log (`web/middleware.py`), also for
    anonymous documents and when the client did not send `operationName`."""

    def on_operation(self) -> Iterator[None]:
        yield
        ctx = self.execution_context
        scope = getattr(getattr(ctx.context, "request", None), "scope", None)
        if scope is None or ctx.graphql_document is None:
            return
        state = scope.setdefault("state", {})
        try:
            state["operation_name"] = (ctx.operation_name or "")[:100] or None
            state["operation_type"] = ctx.operation_type.value
        except RuntimeError:  # no such operation in the document: already an error for the client
            return


class Tracing(SchemaExtension):
    """OpenTelemetry spans for the operation and its parse, validate and execute phases: four
    spans per operation, never one per field (a per-field hook would knock every field off the
    compiled fast path, `engine/execution.py`). Installed only when tracing is on
    (`schema.build_schema(tracing=True)`).

    The operation's span is named `<type> <name>` and carries `graphql.operation.name`,
    `graphql.operation.type`, `relleks.cost` (what the operation spent), `relleks.request_id`,
    `relleks.organization.id` (for an API token or partner app, whose credential belongs to one
    organization) and `relleks.error_codes`: never the document's values or the variables."""

    def on_operation(self) -> Iterator[None]:
        with tracing.span("graphql.operation", kind=tracing.SpanKind.SERVER) as span:
            yield
            if span is not None:
                self._describe(span)

    def _describe(self, span: Any) -> None:
        ctx = self.execution_context
        context: Any = ctx.context
        try:
            kind = ctx.operation_type.value
        except RuntimeError:  # no such operation in the document: already an error
            kind = None
        name = (ctx.operation_name or "")[:100] or None
        if kind is not None:
            span.update_name(f"{kind} {name}" if name else kind)
            span.set_attribute("graphql.operation.type", kind)
        if name is not None:
            span.set_attribute("graphql.operation.name", name)
        request_id = getattr(context, "request_id", None)
        if request_id:
            span.set_attribute("relleks.request_id", request_id)
        cost = getattr(context, "cost", None)
        if cost is not None:
            span.set_attribute("relleks.cost", cost.requested)
        viewer = getattr(context, "viewer", None)
        credential = viewer.credential if viewer is not None else None
        if credential is not None:
            span.set_attribute("relleks.organization.id", str(credential.organization_id))
        errors = ctx.result.errors if ctx.result is not None else None
        if errors:
            span.set_attribute("relleks.error_codes", sorted({
                str((error.extensions or {}).get("code", "INTERNAL")) for error in errors}))

    def on_parse(self) -> Iterator[None]:
        with tracing.span("graphql.parse"):
            yield

    def on_validate(self) -> Iterator[None]:
        with tracing.span("graphql.validate"):
            yield

    def on_execute(self) -> Iterator[None]:
        with tracing.span("graphql.execute"):
            yield


class OneConnectionPerQuery(SchemaExtension):
    """A query's statements share one pooled connection (`database.one_connection`): Q1 runs
    five, and each would take its own and reset it on return. Mutations keep their
    transactions, subscriptions their long life."""

    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is OperationType.QUERY:
            async with one_connection():
                yield
        else:
            yield


class CsrfGuard(SchemaExtension):
    """A mutation sent with session cookies must carry the CSRF header (see `auth/cookies.py`).

    Checked for every mutation, signed-in or not, since `refreshSession` and `logOut` act on the
    cookies themselves."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        context: Any = ctx.context
        problem = csrf_problem(context.request, context.services.settings) \
            if ctx.operation_type is OperationType.MUTATION else None
        if problem:
            ctx.result = ExecutionResult(data=None, errors=[Forbidden(problem, reason="CSRF")])
        yield


def max_directives_rule(limit: int) -> type[ASTValidationRule]:
    """A validation rule refusing documents with more than `limit` directives (directive
    overloading makes a tiny document expensive to validate)."""

    class MaxDirectives(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            self.count += 1
            if self.count == limit + 1:
                self.report_error(GraphQLError(
                    f"The query uses more than {limit} directives.", node,
                    extensions={"code": ErrorCode.BAD_USER_INPUT.value,
                                "reason": "DIRECTIVE_LIMIT", "limit": limit}))

    return MaxDirectives


def _literal_path(ancestors: list[Any]) -> str:
    """Where a literal sits, named as a variable's coercion errors and `BadUserInput` name it:
    its input fields, dotted, within the argument (or variable default); else the argument."""
    argument = "value"
    fields: list[str] = []
    for node in ancestors:
        if isinstance(node, ArgumentNode):
            argument, fields = node.name.value, []
        elif isinstance(node, VariableDefinitionNode):
            argument, fields = node.variable.name.value, []
        elif isinstance(node, ObjectFieldNode):
            fields.append(node.name.value)
    return ".".join(fields) or argument


class InputLiterals(ValidationRule):
    """Refuse string literals no column can take, naming the input field they sit in: text
    holding NUL (U+0000), which PostgreSQL refuses (SQLite would store it), and a `DateTime` out
    of the range the database holds (see `schema/scalars.py`; variables are checked there and
    by `NulGuard`)."""

    def enter_string_value(self, node: StringValueNode, _key: Any, parent: Any, _path: Any,
                           ancestors: list[Node]) -> None:
        if "\x00" in node.value:
            self._refuse(node, [*ancestors, parent], NUL_PROBLEM, reason="NUL_CHARACTER")
            return
        named = get_named_type(self.context.get_input_type())
        if named is None or named.name != "DateTime":
            return
        try:
            value = isoparse(node.value)
        except (ValueError, OverflowError):  # the scalar's literal parsing reports it
            return
        try:
            check_storable(value)
        except ValueError as exc:
            self._refuse(node, [*ancestors, parent], f'"{node.value}" {exc}')

    def _refuse(self, node: StringValueNode, ancestors: list[Any], problem: str,
                **extensions: Any) -> None:
        where = _literal_path(ancestors)
        message = f"{where}: {problem}."
        self.report_error(GraphQLError(message, node, extensions={
            "code": ErrorCode.BAD_USER_INPUT.value, **extensions, "fields": {where: problem}}))


def _nul_path(value: Any, path: str) -> str | None:
    """The input field (dotted path, without list positions, as `BadUserInput` names fields)
    of the first text holding NUL in a variable's value, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = ((f"{path}.{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((path, item) for item in value)
    else:
        return None
    for where, item in items:
        found = _nul_path(item, where)
        if found is not None:
            return found
    return None


def has_nul(variables: dict[str, Any]) -> bool:
    """Whether any variable holds NUL anywhere (`NulGuard` refuses the request)."""
    return any(_nul_path(value, "") is not None for value in variables.values())


class NulGuard(SchemaExtension):
    """Refuse variables holding NUL (U+0000) anywhere, before validation and execution, as a
    request error naming the variable's field: PostgreSQL refuses such text wherever a query
    meets it, and SQLite would store it. Literals in the document are `InputLiterals`' job."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        variables = ctx.variables if isinstance(ctx.variables, dict) else {}
        for name, value in variables.items():
            found = _nul_path(value, "")
            if found is not None:
                # Named as a variable's coercion errors name it: the path inside the variable.
                field = found.lstrip(".") or name
                error = GraphQLError(f"{field}: {NUL_PROBLEM}.", extensions={
                    "code": ErrorCode.BAD_USER_INPUT.value, "reason": "NUL_CHARACTER",
                    "fields": {field: NUL_PROBLEM}})
                ctx.pre_execution_errors = [*(ctx.pre_execution_errors or []), error]
                break
        yield


__all__ = ["CsrfGuard", "ErrorCodes", "InputLiterals", "NulGuard", "OperationName", "Tracing",
           "finalize_errors", "has_nul", "is_client_error", "max_directives_rule"]
