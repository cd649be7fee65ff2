"""Idempotent mutations: the `Idempotency-Key` request header, as Stripe's API has it.

A POST whose operation is one root mutation field may carry `Idempotency-Key: <1-255 printable
ASCII characters>`. The key is the caller's (a person, an API token or a partner app's grant):
the first request claims it with an INSERT (unique per caller and key) before anything runs, and
its response is stored once sent. Within 24 hours a retry with the same key and the same request
(document, variables and operation name) replays that response with `Idempotent-Replayed: true`
and runs nothing; the same key with another request is a CONFLICT (`IDEMPOTENCY_KEY_REUSED`), and
a retry while the first is still running is a CONFLICT (`IDEMPOTENCY_IN_PROGRESS`, 409 with
`Retry-After`). A server error (INTERNAL, a timeout, RATE_LIMITED, UNAVAILABLE) gives the claim
up so a retry runs again. A request without the header costs nothing here: no statement, no
parse. docs/idempotency.md has the whole contract.

Example::

    curl -s http://127.0.0.1:8000/graphql -H "Authorization: Bearer $TOKEN" \\
      -H "Idempotency-Key: 6f1c0f8e-lead-1" -H "Content-Type: application/json" \\
      -d '{"query": "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
           "variables": {"i": {"organizationId": "...", "name": "Ada"}}}'
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.datastructures import UploadFile
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from auth.viewer import Viewer
from core.errors import ErrorCode
from models.idempotency import KEPT_FOR, IdempotencyKey, KeyStatus

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
RETENTION = KEPT_FOR
MIN_STALE_AFTER = timedelta(minutes=1)
"""A claim whose request never finished (the process died) may be taken over after this, or
after twice the execution timeout if that is longer."""
RELEASED_CODES = frozenset({ErrorCode.INTERNAL.value, ErrorCode.RATE_LIMITED.value,
                            ErrorCode.UNAVAILABLE.value})
"""Errors after which a retry may succeed: their responses are not kept, the claim is given up."""
RELEASED_REASONS = frozenset({"TIMEOUT"})
MAX_PARSE_TOKENS = 10_000
"""The document is parsed here (only when the header is present) to find its operation; the
schema's own parser applies the real limits afterwards."""


class IdempotencyRefused(Exception):
    """The key cannot be used for this request: answered before anything runs."""

    def __init__(self, status: int, message: str, code: ErrorCode, reason: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.reason = reason
        self.headers = headers or {}


@dataclass
class Replay(Exception):
    """A stored response to send again instead of running the request."""

    status: int
    media_type: str
    body: bytes


@dataclass
class Claim:
    """This request holds the key: its response is stored (or the claim given up) once sent."""

    row_id: uuid.UUID
    claim: uuid.UUID


def bad_key(message: str, reason: str = "IDEMPOTENCY_KEY_INVALID") -> IdempotencyRefused:
    return IdempotencyRefused(400, message, ErrorCode.BAD_USER_INPUT, reason)


def checked_key(value: str) -> str:
    """The header's value if it is 1-255 printable ASCII characters (space to tilde)."""
    if not 1 <= len(value) <= KEY_MAX_LENGTH or \
            not all(" " <= char <= "~" for char in value) or value.strip() != value:
        raise bad_key(f"The Idempotency-Key header must be 1 to {KEY_MAX_LENGTH} printable ASCII "
                      "characters, without leading or trailing spaces.")
    return value


def caller_of(viewer: Viewer) -> tuple[str, uuid.UUID | None]:
    """The key's owner (`user:<id>`, `token:<id>` or `grant:<id>`) and the person's id if it is
    one. An anonymous caller has no scope to keep keys in: refused."""
    if viewer.token is not None:
        return f"token:{viewer.token.id}", None
    if viewer.grant is not None:
        return f"grant:{viewer.grant.id}", None
    if viewer.user is not None:
        return f"user:{viewer.user.id}", viewer.user.id
    if viewer.error is not None:
        raise IdempotencyRefused(
            401, f"An Idempotency-Key needs a valid credential: {viewer.error}",
            ErrorCode.UNAUTHENTICATED, "IDEMPOTENCY_KEY_NEEDS_CALLER")
    raise bad_key("An Idempotency-Key is kept per caller: send it with a credential "
                  "(anonymous mutations such as signUp and logIn do not take one).",
                  "IDEMPOTENCY_KEY_NEEDS_CALLER")


def is_single_mutation(query: str, operation_name: str | None) -> bool:
    """Whether the operation to run is a mutation, and if so that it has one root field.

    Returns False for a query (the key is ignored: reading is idempotent already) and for a
    document that does not parse or names no operation it holds (execution reports that).
    Raises for a mutation with several root fields or fragments at its root."""
    try:
        document = parse(query, no_location=True, max_tokens=MAX_PARSE_TOKENS)
    except GraphQLError:
        return False
    operations = [node for node in document.definitions
                  if isinstance(node, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [node for node in operations
                      if node.name is not None and node.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.MUTATION:
        return False
    selections = operations[0].selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        raise bad_key("An Idempotency-Key applies to one mutation: this operation has "
                      f"{len(selections)} root selections. Send one mutation field per request.",
                      "IDEMPOTENCY_KEY_MULTIPLE_FIELDS")
    return True


def _upload_digest(value: Any) -> str:
    """An uploaded file (a multipart request's variable) hashed by its content."""
    if isinstance(value, UploadFile):
        digest = hashlib.sha256()
        handle = value.file
        position = handle.tell()
        handle.seek(0)
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
        handle.seek(position)
        return f"upload:{value.filename}:{digest.hexdigest()}"
    raise TypeError(f"cannot hash {type(value).__name__}")


def request_hash(query: str, variables: dict[str, Any] | None, operation_name: str | None) -> str:
    """SHA-256 of the request, canonical: JSON with sorted keys (so the order of variables'
    keys does not matter, their values do)."""
    canonical = orjson.dumps({"query": query, "variables": variables,
                              "operationName": operation_name},
                             option=orjson.OPT_SORT_KEYS, default=_upload_digest)
    return hashlib.sha256(canonical).hexdigest()


async def claim(caller: str, user_id: uuid.UUID | None, key: str, digest: str,
                stale_after: timedelta, now: datetime | None = None) -> Claim:
    """Take the key for this request, or raise `Replay` (done before, same request) or
    `IdempotencyRefused` (another request, or the first one still running).

    One INSERT when the key is new; when it exists, one SELECT, and one conditional UPDATE to
    take over a row past its 24 hours or a claim abandoned for `stale_after`."""
    now = now or datetime.now(UTC)
    token = uuid.uuid4()
    try:
        row = await IdempotencyKey.create(caller=caller, key=key, user_id=user_id,
                                          request_hash=digest, claim=token, created_at=now)
        return Claim(row.id, token)
    except IntegrityError:
        pass
    found = await IdempotencyKey.filter(caller=caller, key=key).first()
    if found is None:  # deleted (given up, swept) since: the caller retries
        raise in_progress()
    expired = found.created_at <= now - RETENTION
    abandoned = found.status is KeyStatus.IN_PROGRESS and found.created_at <= now - stale_after
    if expired or abandoned:
        taken = await IdempotencyKey.filter(id=found.id, claim=found.claim).filter(
            Q(created_at__lte=now - RETENTION) |
            Q(status=KeyStatus.IN_PROGRESS, created_at__lte=now - stale_after),
        ).update(claim=token, created_at=now, request_hash=digest,
                 status=KeyStatus.IN_PROGRESS, response_status=None, response_type=None,
                 response_body=None)
        if taken:
            return Claim(found.id, token)
        raise in_progress()
    if found.request_hash != digest:
        raise IdempotencyRefused(
            409, "This Idempotency-Key was used with another request (document, variables or "
            "operation name): use a new key for a new request.",
            ErrorCode.CONFLICT, "IDEMPOTENCY_KEY_REUSED")
    if found.status is KeyStatus.TOO_LARGE:
        raise IdempotencyRefused(
            409, "The request with this Idempotency-Key ran once, but its response was too "
            "large to keep for retries: read the result through the API (a query), or send "
            "a new key to run it again.", ErrorCode.CONFLICT, "IDEMPOTENCY_RESPONSE_TOO_LARGE")
    if found.status is KeyStatus.IN_PROGRESS or found.response_body is None:
        raise in_progress()
    raise Replay(status=found.response_status or 200,
                 media_type=found.response_type or "application/json",
                 body=found.response_body.encode())


def in_progress() -> IdempotencyRefused:
    return IdempotencyRefused(
        409, "A request with this Idempotency-Key is still running: retry shortly to get its "
        "response.", ErrorCode.CONFLICT, "IDEMPOTENCY_IN_PROGRESS", {"Retry-After": "1"})


def keeps(status: int, body: bytes) -> bool:
    """Whether a response is final for its key: not a server error nor one a retry may cure."""
    if status >= 500 or status == 429:
        return False
    try:
        errors = orjson.loads(body).get("errors") or ()
    except (orjson.JSONDecodeError, AttributeError):
        return False
    for error in errors:
        extensions = error.get("extensions") or {} if isinstance(error, dict) else {}
        if extensions.get("code") in RELEASED_CODES or \
                extensions.get("reason") in RELEASED_REASONS:
            return False
    return True


async def complete(held: Claim, status: int, media_type: str, body: bytes,
                   max_bytes: int) -> None:
    """Store the response for replays, or give the claim up when a retry should run again. A
    response over `max_bytes` (IDEMPOTENCY_RESPONSE_MAX) is not stored: the key is marked
    TOO_LARGE, so a retry is refused (IDEMPOTENCY_RESPONSE_TOO_LARGE) and never runs twice."""
    mine = IdempotencyKey.filter(id=held.row_id, claim=held.claim)
    if keeps(status, body) and len(body) > max_bytes:
        await mine.update(status=KeyStatus.TOO_LARGE, response_status=status,
                          response_type=media_type, response_body=None)
    elif keeps(status, body):
        await mine.update(status=KeyStatus.DONE, response_status=status,
                          response_type=media_type, response_body=body.decode())
    else:
        await mine.delete()
