"""Pure ASGI middleware: request ids and the access log, security headers, CORS outside the
public form paths, header and body size limits."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson
import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import tracing
from core.error_reports import report_exception
from core.settings import Settings

log = structlog.get_logger("relleks.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
CLIENT_CLOSED = 499
"""The status logged for a request whose client left before it was answered (nginx's)."""


class RequestLog:
    """Give each request an id (kept from `X-Request-ID` when sane), echo it, and write one JSON
    line when the response ends: id, method, path (never the query string, which can hold GraphQL
    variables, nor a double opt-in link's token), operation name and type, status (499 when the
    client left before its answer), duration,
    user id, and with tracing on the trace id (`trace_id`, `span_id`: the request's span, named
    `<METHOD> <path>`, parent of the GraphQL operation's). Nothing from the body or the headers'
    values is logged, so no secret or personal data is. An exception that escapes the app is
    reported (`core/error_reports.py`) with the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        path = logged_path(scope["path"])
        with tracing.span(f"{scope['method']} {path}", kind=tracing.SpanKind.SERVER, attributes={
                "http.request.method": scope["method"], "url.path": path,
                "relleks.request_id": request_id}) as span:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                report_exception(exc, request_id=request_id)
                raise
            finally:
                if status is None:  # no answer: the client left first (499, as nginx logs it)
                    status = CLIENT_CLOSED if state.get("client_disconnected") else 500
                if span is not None:
                    span.set_attribute("http.response.status_code", status)
                log.info(
                    "request",
                    request_id=request_id,
                    method=scope["method"],
                    path=path,
                    operation=state.get("operation_name"),
                    operation_type=state.get("operation_type"),
                    document=state.get("document_id"),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    user_id=state.get("user_id"),
                )


SECRET_PATHS = ("/f/confirm/", "/p/verify/", "/p/download/")
"""Paths whose last part is a secret (a double opt-in link's token, a privacy request's
verification or download link): logged without it."""


def logged_path(path: str) -> str:
    """`path` as the access log writes it: a link's token is replaced by `[token]`."""
    for prefix in SECRET_PATHS:
        if path.startswith(prefix):
            return prefix + "[token]"
    return path


class SecurityHeaders:
    """`nosniff` everywhere, no caching of API answers (they hold personal data), and HSTS when
    the request came over TLS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-content-type-options"] = "nosniff"
                # A page that needs the browser to send its origin (a lead form) sets its own.
                headers.setdefault("referrer-policy", "no-referrer")
                if scope["path"].startswith("/graphql"):
                    headers.setdefault("cache-control", "no-store")
                if scope.get("scheme") == "https":
                    headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CORSExcept:
    """Starlette's CORSMiddleware (the API's `ALLOWED_ORIGINS`, with credentials) on every path
    but those under `skip`: the public lead form endpoints answer CORS themselves, for each
    form's own origins and never with credentials (`web/forms.py`)."""

    def __init__(self, app: ASGIApp, /, *, skip: tuple[str, ...], **options: Any) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **options)
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
        else:
            await self.cors(scope, receive, send)


class HeaderSizeLimit:
    """Refuse requests whose request line and headers together exceed MAX_HEADER_BYTES with 431
    (a WebSocket handshake too, when the server can send it an HTTP answer). The server run by
    `scripts/serve.py` already stops reading a head past the limit (`web/protocol.py`); this
    counts exactly, whatever runs the app."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limit = settings.max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or head_size(scope) <= self.limit:
            await self.app(scope, receive, send)
            return
        payload = orjson.dumps({"errors": [{
            "message": f"The request headers are larger than {self.limit} bytes.",
            "extensions": {"code": "BAD_USER_INPUT", "reason": "HEADERS_TOO_LARGE",
                           "limit": self.limit}}]})
        headers = [(b"content-type", b"application/json; charset=utf-8"),
                   (b"content-length", str(len(payload)).encode())]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 431, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 431,
                        "headers": headers})
            await send({"type": "websocket.http.response.body", "body": payload})
        else:
            await send({"type": "websocket.close", "code": 1008})


def head_size(scope: Scope) -> int:
    """The request head's size as sent: request line and header lines, CRLFs included."""
    line = len(scope.get("method", "GET")) + len(scope.get("raw_path") or b"") + \
        len(scope.get("query_string", b"")) + 12
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies over MAX_BODY_BYTES (MAX_UPLOAD_BYTES for multipart uploads) with 413,
    whether announced by Content-Length or streamed without one."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.settings.max_upload_bytes if multipart else self.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = {"errors": [{
        "message": f"The request body is larger than {limit} bytes.",
        "extensions": {"code": "BAD_USER_INPUT", "reason": "BODY_TOO_LARGE", "limit": limit},
    }]}
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
    ]})
    await send({"type": "http.response.body", "body": payload})
