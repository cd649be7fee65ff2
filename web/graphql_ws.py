"""GraphQL subscriptions over WebSocket: the `graphql-transport-ws` protocol with our rules.

On top of Strawberry's handler: the client authenticates in `connection_init` (see
`auth.authenticate.authenticate_connection`) and a connection without valid credentials is closed
with 4401 before anything is sent; a message larger than `WS_MAX_MESSAGE_BYTES` closes it with
1009; and each subscription runs with its own copy of the context, so that renewing the loaders
and access control before each event (`resolvers/realtime.py`) never disturbs another
subscription of the same connection.

A socket holds its credential only while the credential stands. Every operation started on it
(query, mutation or subscription) re-reads the session, token or grant first; and a watcher
re-reads it when told that it may have ended (`realtime/credentials.py`: logout, revocation,
removal...), when it expires, and every `WS_RECHECK_SECONDS` in case a notice was lost. Once it
has ended the socket is closed with 4401 and the reason, ending every operation on it; an access
token that merely expired (a refreshed one would stand) closes it with 4403 instead, at connect
as at expiry, which graphql-ws clients retry after refreshing in `connectionParams`.

Open sockets are capped (`realtime/sockets.py`, across processes with Redis): per client IP
(`WS_MAX_SOCKETS_PER_IP`) as soon as the socket is accepted, and per credential, the session, API
token or OAuth grant (`WS_MAX_SOCKETS_PER_CREDENTIAL`), once `connection_init` has authenticated
it. A socket over either cap is closed with 4429 "Too many connections".

Each operation started on a socket is counted once, like an HTTP request, in the request
metrics (`relleks_graphql_requests_total` by name and type, `relleks_graphql_errors_total` by
code) and in the usage analytics (`web/counting.py`), when its start is known: its first result
(an error refusing it, a query's answer) or, for a subscription, the moment it listens for
events (`Context.listening`). Errors of later events count in the error metric only.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson
import structlog
from graphql import GraphQLError, get_operation_ast, parse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from auth.authenticate import authenticate_connection, recheck_viewer
from auth.viewer import Viewer
from core.errors import ErrorCode
from engine.context import Context
from observability.metrics import (
    WS_CONNECTIONS,
    WS_SUBSCRIPTIONS,
    count_errors,
    record_operation,
)
from realtime.broker import Overflow
from realtime.credentials import credentials_topic, sessions_topic
from web.counting import count_usage
from web.persisted import DocumentRefused, refusal_of_free_text, requested_document

if TYPE_CHECKING:
    from strawberry.schema.base import BaseSchema

    from engine.documents import TrustedDocuments
    from services import Services

log = structlog.get_logger("relleks.realtime")

UNAUTHORIZED = 4401
TOKEN_EXPIRED = 4403
"""An access token (a person's JWT, a partner app's OAuth token) expired: refresh it and
reconnect. graphql-ws retries 4403 by itself (4401 is fatal to it) and calls `connectionParams`
again, so a client that refreshes there keeps its subscriptions (docs/realtime.md)."""
MESSAGE_TOO_BIG = 1009
TOO_MANY_CONNECTIONS = 4429
MAX_REASON = 120  # a close frame's reason holds at most 123 bytes


class _ServedView(Protocol):
    """What the adapter and handler read of its view (`web.graphql_view.GraphQLView`)."""

    services: Services
    documents: TrustedDocuments | None


class LimitedWebSocket(ASGIWebSocketAdapter):
    """Strawberry's WebSocket adapter, refusing messages over the configured size, and sending
    every message as a text frame (graphql-transport-ws messages are text: the view's
    `encode_json` gives bytes, fast for HTTP, which Strawberry would send as binary frames that
    a browser hands the page as a Blob)."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def iter_json(self, *, ignore_parsing_errors: bool = False
                        ) -> AsyncGenerator[object, None]:
        limit = cast(_ServedView, self.view).services.settings.ws_max_message_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text.encode()) > limit:
                    await self.ws.close(code=MESSAGE_TOO_BIG,
                                        reason=f"Message too big: at most {limit} bytes")
                    return
                try:
                    yield self.view.decode_json(text)
                except ValueError as exc:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass


MAX_TOKENS = 20_000
"""Tokens read of a document to find its operation's type for the metrics (the schema's own
token limit refuses longer ones first)."""


def error_codes(errors: list[GraphQLError] | None) -> list[str]:
    return [str((error.extensions or {}).get("code", ErrorCode.INTERNAL.value))
            for error in errors or ()]


class OperationCount:
    """Counts one WebSocket operation once, when its start is known (see the module's
    docstring), and the errors of its later results."""

    def __init__(self, query: Any, operation_name: str | None, context: Context) -> None:
        self.query = query
        self.operation_name = operation_name if isinstance(operation_name, str) else None
        self.context = context
        self.counted = False

    def started(self) -> None:
        """The subscription listens for events: it started without an error."""
        self.count([])

    def count(self, errors: list[GraphQLError]) -> None:
        if self.counted:
            return
        self.counted = True
        name, kind = self.operation()
        record_operation(name, kind, error_codes(errors))
        cost = self.context.cost.requested if self.context.cost is not None else 0
        count_usage(self.context, name, failed=bool(errors), cost=cost)

    def operation(self) -> tuple[str | None, str | None]:
        """The operation's name (sent, or the document's) and type; None for a document that
        does not parse or lacks the operation."""
        name = self.operation_name[:100] if self.operation_name else None
        if not isinstance(self.query, str):
            return name, None
        try:
            found = get_operation_ast(parse(self.query, no_location=True,
                                            max_tokens=MAX_TOKENS), self.operation_name)
        except GraphQLError:
            return name, None
        if found is None:
            return name, None
        if name is None and found.name is not None:
            name = found.name.value[:100]
        return name, found.operation.value

    async def watch(self, source: Any) -> AsyncIterator[Any]:
        async with aclosing(source):
            async for result in source:
                errors = getattr(result, "errors", None) or []
                if not self.counted:
                    self.count(errors)
                elif errors:
                    count_errors(error_codes(errors))
                yield result


class _PerOperationContext:
    """The schema as the handler sees it: each operation streams with its own context copy,
    and is counted (`OperationCount`). An operation whose text is a trusted document's (its
    id was sent: `TransportWSHandler.handle_subscribe`) runs that document as parsed and
    validated at start."""

    def __init__(self, schema: Any, documents: TrustedDocuments | None) -> None:
        self._schema = schema
        self._documents = documents

    async def stream(self, query: Any, *args: Any, context_value: Any,
                     operation_name: str | None = None, **kwargs: Any) -> Any:
        context = context_value.for_operation()
        if self._documents is not None and isinstance(query, str):
            context.document = self._documents.by_text.get(query)
        counter = OperationCount(query, operation_name, context)
        context.listening = counter.started
        source = await self._schema.stream(query, *args, context_value=context,
                                           operation_name=operation_name, **kwargs)
        return counter.watch(source)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """`graphql-transport-ws` with authentication in `connection_init`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Stands in for the schema: everything but `stream` is the schema's own.
        self.documents = cast(_ServedView, self.view).documents
        self.schema = cast("BaseSchema", _PerOperationContext(self.schema, self.documents))
        self.watcher: asyncio.Task[None] | None = None
        self.socket_id = uuid.uuid4().hex
        self.places: list[str] = []
        """The keys this socket is counted under (`realtime/sockets.py`)."""
        self.renewer: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        request = self.context.request
        client = request.client.host if request.client else "unknown"
        try:
            if await self._claim(f"ip:{client}",
                                 self.context.services.settings.ws_max_sockets_per_ip):
                WS_CONNECTIONS.inc()
                try:
                    await super().handle()
                finally:
                    WS_CONNECTIONS.dec()
        finally:
            if self.renewer is not None:
                self.renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.renewer
            await self._release()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        context = self.context
        viewer = await authenticate_connection(payload, context.request,
                                               context.services.settings)
        if viewer.user is None and viewer.credential is None:
            await self._close_unauthorized(viewer)
            return
        if not await self._claim(credential_key(viewer),
                                 context.services.settings.ws_max_sockets_per_credential):
            return
        context.viewer = viewer
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        self.watcher = asyncio.create_task(self._watch_credential(viewer))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Every operation acts with the credential as it is now, not as it was at connect."""
        if self.connection_acknowledged and not await self._still_standing():
            return
        limit = self.max_subscriptions_per_connection
        if self.connection_acknowledged and limit is not None \
                and message["id"] not in self.operations and len(self.operations) >= limit:
            # Strawberry's own refusal has no `extensions.code`: clients branch on the code.
            error = GraphQLError(
                f"This connection already runs {limit} operations, the most it may: complete "
                "one before starting another, or open another connection.",
                extensions={"code": ErrorCode.BAD_USER_INPUT.value,
                            "reason": "SUBSCRIPTION_LIMIT", "limit": limit})
            await self.send_message({"id": message["id"], "type": "error",
                                     "payload": [error.formatted]})
            return
        payload = message.get("payload")
        if self.connection_acknowledged and isinstance(payload, dict):
            refusal = self._read_document(cast(dict[str, Any], payload))
            if refusal is not None:
                await self.send_message({"id": message["id"], "type": "error",
                                         "payload": [refusal.formatted]})
                return
        await super().handle_subscribe(message)

    def _read_document(self, payload: dict[str, Any]) -> GraphQLError | None:
        """Put the text of the trusted document the payload names (`web/persisted.py`) in its
        `query`; or say why the operation may not run: a bad or unknown id, or free text from
        a kind of client held to trusted documents (`PERSISTED_ONLY`)."""
        try:
            document = requested_document(self.documents, payload)
        except DocumentRefused as refused:
            return refused.error
        if document is not None:
            payload["query"] = document.text
            return None
        return refusal_of_free_text(self.context.viewer.kind,
                                    self.context.services.settings.persisted_only)

    async def run_operation(self, operation: Any) -> None:
        WS_SUBSCRIPTIONS.inc()
        try:
            await super().run_operation(operation)
        finally:
            WS_SUBSCRIPTIONS.dec()

    async def shutdown(self) -> None:
        if self.watcher is not None and self.watcher is not asyncio.current_task():
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
        await super().shutdown()

    async def _still_standing(self) -> bool:
        """Re-read the connection's credential (one query); close with 4401 once it ended."""
        viewer = await recheck_viewer(self.context.viewer)
        if viewer.user is None and viewer.credential is None:
            await self._close_unauthorized(viewer)
            return False
        self.context.renew(viewer)
        return True

    async def _claim(self, key: str, limit: int) -> bool:
        """Count this socket under `key`, or close it with 4429 when `limit` are open already.
        Counting that fails (Redis away) lets the socket through rather than refuse everyone."""
        sockets = self.context.services.sockets
        try:
            claimed = await sockets.claim(key, self.socket_id, limit)
        except Exception:
            log.warning("realtime.count_failed", exc_info=True)
            return True
        if not claimed:
            await self.websocket.close(code=TOO_MANY_CONNECTIONS, reason="Too many connections")
            return False
        self.places.append(key)
        if sockets.lease is not None and self.renewer is None:
            self.renewer = asyncio.create_task(self._renew(sockets.lease))
        return True

    async def _renew(self, lease: float) -> None:
        """Keep this socket's places while it lives: they lapse `lease` seconds after the last
        renewal, which is how the places of a process that died come back."""
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self.context.services.sockets.renew(self.places, self.socket_id)
            except Exception:
                log.warning("realtime.count_failed", exc_info=True)

    async def _release(self) -> None:
        try:
            await self.context.services.sockets.release(self.places, self.socket_id)
        except Exception:  # the places lapse with their lease
            log.warning("realtime.count_failed", exc_info=True)
        self.places = []

    async def _close_unauthorized(self, viewer: Viewer) -> None:
        reason = (viewer.error or "Unauthorized").encode()[:MAX_REASON].decode(errors="ignore")
        await self.websocket.close(code=TOKEN_EXPIRED if viewer.refresh else UNAUTHORIZED,
                                   reason=reason)

    async def _watch_credential(self, viewer: Viewer) -> None:
        """Re-check the credential on each notice that it may have ended, at its expiry, and
        every `ws_recheck_seconds`; return once the socket has been closed for it."""
        services = self.context.services
        if viewer.user is not None:
            topics = [sessions_topic(viewer.user.id)]
        else:
            assert viewer.credential is not None
            topics = [credentials_topic(viewer.credential.organization_id)]
        while True:  # subscribed anew after a flood of notices overflowed the buffer
            async with services.broker.subscribe(topics) as notices:
                try:
                    while True:
                        wait = services.settings.ws_recheck_seconds
                        if viewer.expires_at is not None:
                            left = (viewer.expires_at - datetime.now(UTC)).total_seconds()
                            wait = min(wait, max(left, 0) + 0.05)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(anext(notices), wait)
                        if await self._ended():
                            return
                except Overflow:
                    pass
            if await self._ended():
                return

    async def _ended(self) -> bool:
        """Whether the socket was closed for its credential; a failed re-read (the database
        briefly away) counts as standing until the next wake-up."""
        try:
            return not await self._still_standing()
        except Exception:
            log.warning("realtime.recheck_failed", exc_info=True)
            return False


def credential_key(viewer: Viewer) -> str:
    """What the per-credential cap counts: the session, API token or OAuth grant."""
    if viewer.token is not None:
        return f"token:{viewer.token.id}"
    if viewer.grant is not None:
        return f"grant:{viewer.grant.id}"
    if viewer.session is not None:
        return f"session:{viewer.session.id}"
    assert viewer.user is not None
    return f"user:{viewer.user.id}"
