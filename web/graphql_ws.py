"""GraphQL subscriptions over WebSocket: the `graphql-transport-ws` protocol with our rules.

On top of Strawberry's handler: the client authenticates in `connection_init` (see
`auth.authenticate.authenticate_connection`) and a connection without valid credentials is closed
with 4401 before anything is sent; a message larger than `WS_MAX_MESSAGE_BYTES` closes it with
1009; and each subscription runs with its own copy of the context, so that renewing the loaders
and access control before each event (`resolvers/realtime.py`) never disturbs another
subscription of the same connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from auth.authenticate import authenticate_connection

UNAUTHORIZED = 4401
MESSAGE_TOO_BIG = 1009
MAX_REASON = 120  # a close frame's reason holds at most 123 bytes


class LimitedWebSocket(ASGIWebSocketAdapter):
    """Strawberry's WebSocket adapter, refusing messages over the configured size."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False
                        ) -> AsyncGenerator[object, None]:
        limit = self.view.services.settings.ws_max_message_bytes  # type: ignore[attr-defined]
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


class _PerOperationContext:
    """The schema as the handler sees it: each operation streams with its own context copy."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema

    async def stream(self, *args: Any, context_value: Any, **kwargs: Any) -> Any:
        return await self._schema.stream(*args, context_value=context_value.for_operation(),
                                         **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)


class TransportWSHandler(BaseGraphQLTransportWSHandler):  # type: ignore[type-arg]
    """`graphql-transport-ws` with authentication in `connection_init`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = _PerOperationContext(self.schema)  # type: ignore[assignment]

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
            reason = (viewer.error or "Unauthorized").encode()[:MAX_REASON].decode(
                errors="ignore")
            await self.websocket.close(code=UNAUTHORIZED, reason=reason)
            return
        context.viewer = viewer
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
