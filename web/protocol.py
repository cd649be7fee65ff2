"""uvicorn's HTTP protocol (httptools) with the limits on request heads it lacks.

uvicorn reads a request head for as long as it keeps coming, and waits for it as long as the
client likes: a 20 MB header was read and answered 200, and sockets that sent nothing stayed open
for good (its keep-alive timeout runs only between requests). This protocol

- answers 431 and closes the connection once more than `MAX_HEADER_BYTES` of a head have arrived
  without its end (the app's `HeaderSizeLimit` counts heads that arrived whole exactly);
- closes a connection whose request head is not complete `HEADER_TIMEOUT` seconds after the
  connection opened or the request began (408 if part of it came).

`scripts/serve.py` runs uvicorn with it; the limits come from the same settings as the app's.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from core.settings import Settings


@functools.cache
def _limits() -> tuple[int, float]:
    settings = Settings.from_env()
    return settings.max_header_bytes, settings.header_timeout


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head, self.head_timeout = _limits()
        self.awaiting_head = True
        self.head_bytes = 0
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's signature, narrower than asyncio's
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counting = self.awaiting_head
        if counting:
            self.head_bytes += len(data)
        super().data_received(data)
        # Still no end of head after more than the limit: what came was all head.
        if counting and self.awaiting_head and self.head_bytes > self.max_head \
                and not self.transport.is_closing():
            self._refuse(431, {"errors": [{
                "message": f"The request headers are larger than {self.max_head} bytes.",
                "extensions": {"code": "BAD_USER_INPUT", "reason": "HEADERS_TOO_LARGE",
                               "limit": self.max_head}}]})

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.awaiting_head = True
        if self.head_timer is None:
            self._start_head_timer()

    def on_headers_complete(self) -> None:
        self.awaiting_head = False
        self.head_bytes = 0
        self._stop_head_timer()
        super().on_headers_complete()

    def _start_head_timer(self) -> None:
        self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.awaiting_head or self.transport.is_closing():
            return
        if self.head_bytes:
            self._refuse(408, {"errors": [{
                "message": f"The request head did not arrive within {self.head_timeout:g} "
                           "seconds.",
                "extensions": {"code": "BAD_USER_INPUT", "reason": "HEADER_TIMEOUT",
                               "limit": self.head_timeout}}]})
        else:
            self.transport.close()

    def _refuse(self, status: int, body: dict[str, Any]) -> None:
        self._stop_head_timer()
        payload = orjson.dumps(body)
        self.transport.write(b"".join([
            STATUS_LINE[status],
            b"content-type: application/json; charset=utf-8\r\n",
            b"content-length: ", str(len(payload)).encode(), b"\r\n",
            b"connection: close\r\n\r\n", payload]))
        self.transport.close()
