"""The errors a client can cause, each with a stable `extensions.code`.

Resolvers raise these; the schema's error extension leaves their message and code alone, gives
GraphQL's own parse and validation errors the code BAD_USER_INPUT, and turns anything else into
INTERNAL with a request id (see `engine/extensions.py`). Clients branch on `code`, never on text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sized
from enum import StrEnum
from typing import Any

from graphql import GraphQLError


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    PLAN_LIMIT = "PLAN_LIMIT"
    UNAVAILABLE = "UNAVAILABLE"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_REQUIRED = "PERSISTED_QUERY_REQUIRED"
    INTERNAL = "INTERNAL"


class ApiError(GraphQLError):
    """An error meant for the client: its message is shown as is."""

    code: ErrorCode = ErrorCode.INTERNAL
    extensions: dict[str, Any]  # never None: it holds the code at least

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code.value, **extensions})


class Unauthenticated(ApiError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ApiError):
    code = ErrorCode.FORBIDDEN


class NotFound(ApiError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, what: str = "object", **extensions: Any) -> None:
        super().__init__(f"No such {what}.", **extensions)


class Conflict(ApiError):
    code = ErrorCode.CONFLICT


class RateLimited(ApiError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after: int, **extensions: Any) -> None:
        super().__init__(message, retryAfter=retry_after, **extensions)


class PlanLimit(ApiError):
    code = ErrorCode.PLAN_LIMIT


class Unavailable(ApiError):
    """A feature this server was not configured for (no Stripe key...): not the client's fault,
    and not a bug either, so never INTERNAL. `reason` names what is missing, e.g.
    BILLING_NOT_CONFIGURED; the client can only tell the operator."""

    code = ErrorCode.UNAVAILABLE

    def __init__(self, message: str, reason: str, **extensions: Any) -> None:
        super().__init__(message, reason=reason, **extensions)


class BadUserInput(ApiError):
    """Bad input; `fields` maps each offending input field to what is wrong with it."""

    code = ErrorCode.BAD_USER_INPUT

    def __init__(self, message: str, fields: Mapping[str, str] | None = None,
                 **extensions: Any) -> None:
        if fields:
            extensions["fields"] = dict(fields)
        super().__init__(message, **extensions)

    @classmethod
    def field(cls, name: str, problem: str) -> BadUserInput:
        return cls(f"{name}: {problem}", {name: problem})

    @classmethod
    def token(cls, reason: str, problem: str, *, message: str | None = None) -> BadUserInput:
        """A link's token refused (unknown, used, expired, revoked): the one form of that error,
        naming `token`, with `extensions.reason` saying why so a client can show its own words.
        `message` is the top-level message, `token: <problem>` unless given.

            raise BadUserInput.token("TOKEN_USED", "this link was already used")
        """
        return cls(message or f"token: {problem}", {"token": problem}, reason=reason)


def at_most(name: str, values: Sized | None, maximum: int) -> None:
    """Refuse a list argument holding more than `maximum` items (BAD_USER_INPUT naming `name`,
    with the `limit`), before any work is done on it; every list a client sends goes through
    this, with its maximum said in its description."""
    if values is not None and len(values) > maximum:
        problem = f"at most {maximum} items"
        raise BadUserInput(f"{name}: {problem}", {name: problem}, limit=maximum)
