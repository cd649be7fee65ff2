"""Schema extensions of our own: error codes and masking, the CSRF guard, the directive limit.

The rest (depth, alias and token limits, parser and validation caches) are Strawberry's own and
are wired in `schema/__init__.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import structlog
from graphql import (
    ASTValidationRule,
    DirectiveNode,
    ExecutionResult,
    GraphQLError,
    ValidationContext,
)
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.graphql import OperationType

from auth.cookies import csrf_ok, has_session_cookie
from errors import ApiError, ErrorCode, Forbidden

log = structlog.get_logger("relleks.errors")
SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)


def _is_client_error(error: GraphQLError) -> bool:
    """Errors the client caused: ours (ApiError) and GraphQL's own syntax/validation/coercion
    errors, which carry no original exception."""
    return error.original_error is None or isinstance(error.original_error, ApiError)


class ErrorCodes(MaskErrors):
    """Give every error a stable `extensions.code`, and hide what the client must not see.

    Client errors keep their message; GraphQL's own get BAD_USER_INPUT. Any other exception is
    logged with the request id and reaches the client as INTERNAL with that id, without its
    message, stack, SQL or paths. With introspection off, "Did you mean ...?" hints are cut too,
    since they spell out the schema one guess at a time.
    """

    def __init__(self, hide_suggestions: bool = False) -> None:
        super().__init__(should_mask_error=lambda e: not _is_client_error(e),
                         error_message="Internal error: the request id lets support find it.")
        self.hide_suggestions = hide_suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = self.execution_context.context.request_id
        original = error.original_error
        log.error("graphql.internal_error", request_id=request_id, path=error.path,
                  exc_info=(type(original), original, original.__traceback__) if original else None)
        return GraphQLError(self.error_message, nodes=error.nodes, path=error.path,
                            extensions={"code": ErrorCode.INTERNAL.value, "requestId": request_id})

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = []
        for error in super()._process_errors(errors):
            extensions = dict(error.extensions or {})
            extensions.setdefault("code", ErrorCode.BAD_USER_INPUT.value)
            message = error.message
            if self.hide_suggestions:
                message = SUGGESTION.sub("", message)
            processed.append(GraphQLError(message, nodes=error.nodes, path=error.path,
                                          original_error=error.original_error,
                                          extensions=extensions))
        return processed


class CsrfGuard(SchemaExtension):
    """A mutation sent with session cookies must carry the CSRF header (see `auth/cookies.py`).

    Checked for every mutation, signed-in or not, since `refreshSession` and `logOut` act on the
    cookies themselves."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        context: Any = ctx.context
        if (
            ctx.operation_type is OperationType.MUTATION
            and not context.request.headers.get("authorization")
            and has_session_cookie(context.request, context.services.settings)
            and not csrf_ok(context.request, context.services.settings)
        ):
            error = Forbidden("Cookie-authenticated mutations need the `X-CSRF-Token` header, "
                              "set to the value of the CSRF cookie.", reason="CSRF")
            ctx.result = ExecutionResult(data=None, errors=[error])
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
