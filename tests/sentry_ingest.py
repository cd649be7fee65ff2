"""A fake Sentry ingest server on loopback for tests: the real `sentry_sdk` is pointed at it
(`SENTRY_DSN=http://key@127.0.0.1:PORT/1`) and every envelope it posts is decoded and kept.

    with SentryIngest() as ingest:
        settings = replace(settings, sentry_dsn=ingest.dsn)
        ...
        ingest.events()      # the error events received, as dicts
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.smtp import free_port


def decode_envelope(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """An envelope's items as (item header, payload): a header line, then each item's header
    line and payload (of the header's `length`, or up to the next newline)."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[:header["length"]], rest[header["length"]:].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


class SentryIngest:
    def __init__(self) -> None:
        self.port = free_port()
        self.envelopes: list[list[tuple[dict[str, Any], bytes]]] = []
        self.dsn = f"http://publickey@127.0.0.1:{self.port}/1"
        app = Starlette(routes=[Route("/api/{project}/envelope/", self._envelope,
                                      methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _envelope(self, request: Request) -> JSONResponse:
        body = await request.body()
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.envelopes.append(decode_envelope(body))
        return JSONResponse({"id": "0" * 32})

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for envelope in self.envelopes
                for header, payload in envelope if header.get("type") == "event"]

    def raw(self) -> str:
        return "\n".join(payload.decode(errors="replace") for envelope in self.envelopes
                         for _, payload in envelope)

    def __enter__(self) -> SentryIngest:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the fake Sentry ingest did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
