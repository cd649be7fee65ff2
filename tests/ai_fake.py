"""A fake OpenAI-compatible server for the AI tests: the chat completions wire format (streaming
SSE included) as OpenAI documents it, so the real `openai` client is what the tests run.

    fake = FakeOpenAI()
    client = fake_openai_client(fake)             # no sockets: httpx2's ASGI transport
    provider = OpenAiCompatibleProvider(FAKE_BASE_URL, "sk-test", "fake-model", http_client=client)
    ...
    fake.requests[-1]["store"]                     # what the provider sent

Or over TCP (end-to-end): the `fake_openai_server` fixture serves the test's `fake_openai` with
uvicorn on 127.0.0.1 and gives its base URL (`http://127.0.0.1:PORT/v1`) for `AI_BASE_URL`.

Switches per test: `reply_text`, `chunks` (pieces the text is cut into), `fail_with(status, body)`,
`delay` (seconds before answering: timeouts), `chunk_delay` (between pieces), `omit_usage` (a
server that ignores `stream_options`), `finish_reason` (e.g. "content_filter"), `raw_events`
(the SSE `data:` payloads to stream instead, e.g. something that is not JSON).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

FAKE_BASE_URL = "http://fake-openai.test/v1"
DEFAULT_REPLY = "The lead is interested in a demo and asked for pricing next week."
CONTENT_FILTER = {"error": {"message": "The response was filtered due to the prompt triggering "
                            "content management policy.", "type": "invalid_request_error",
                            "param": "prompt", "code": "content_filter"}}
CONTEXT_LENGTH = {"error": {"message": "This model's maximum context length is 8192 tokens. "
                            "However, your messages resulted in 9001 tokens.",
                            "type": "invalid_request_error", "param": "messages",
                            "code": "context_length_exceeded"}}
RATE_LIMITED = {"error": {"message": "Rate limit reached for requests", "type": "requests",
                          "param": None, "code": "rate_limit_exceeded"}}
BAD_KEY = {"error": {"message": "Incorrect API key provided: sk-te***st.",
                     "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
SERVER_ERROR = {"error": {"message": "The server had an error while processing your request.",
                          "type": "server_error", "param": None, "code": None}}


def pieces(text: str, count: int) -> list[str]:
    """`text` cut into `count` pieces (fewer when it is shorter) that join back to it."""
    count = max(1, min(count, len(text) or 1))
    size = -(-len(text) // count) if text else 0
    return [text[i:i + size] for i in range(0, len(text), size)] if text else [""]


class FakeOpenAI:
    """The ASGI app (call it, or pass it to `httpx2.ASGITransport`). Every chat completions
    request body is appended to `requests`, and its headers to `headers`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply_text = DEFAULT_REPLY
        self.chunks = 4
        self.delay = 0.0
        self.chunk_delay = 0.0
        self.omit_usage = False
        self.finish_reason = "stop"
        self.failure: tuple[int, Any] | None = None
        self.raw_events: list[str] | None = None
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self.completions, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def fail_with(self, status: int, body: Any = None) -> None:
        """Answer every following request with `status` and `body` (JSON), e.g. 429."""
        self.failure = (status, body if body is not None else SERVER_ERROR)

    def usage_of(self, body: dict[str, Any]) -> dict[str, int]:
        """The usage the fake reports: a word count of the messages, and the pieces sent."""
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        completion = len(pieces(self.reply_text, self.chunks))
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": "fake-model", "object": "model", "created": 1_700_000_000, "owned_by": "fake"}]})

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failure is not None:
            status, payload = self.failure
            return JSONResponse(payload, status_code=status)
        model = body.get("model", "fake-model")
        base = {"id": "chatcmpl-fake", "created": 1_700_000_000, "model": model,
                "system_fingerprint": "fp_fake"}
        if not body.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": self.reply_text},
                 "finish_reason": self.finish_reason, "logprobs": None}],
                "usage": self.usage_of(body)})
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(self._events(body, base, include_usage),
                                 media_type="text/event-stream")

    async def _events(self, body: dict[str, Any], base: dict[str, Any],
                      include_usage: bool) -> AsyncIterator[str]:
        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            chunk = {**base, "object": "chat.completion.chunk", "choices": choices, **extra}
            if include_usage and "usage" not in extra:
                chunk["usage"] = None
            return f"data: {json.dumps(chunk)}\n\n"

        if self.raw_events is not None:
            for raw in self.raw_events:
                yield f"data: {raw}\n\n"
            return
        parts = pieces(self.reply_text, self.chunks)
        for number, part in enumerate(parts):
            delta = {"content": part, **({"role": "assistant"} if number == 0 else {})}
            yield event([{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}])
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        yield event([{"index": 0, "delta": {}, "finish_reason": self.finish_reason,
                      "logprobs": None}])
        if include_usage and not self.omit_usage:
            yield event([], usage=self.usage_of(body))
        yield "data: [DONE]\n\n"


def fake_openai_client(fake: FakeOpenAI) -> httpx2.AsyncClient:
    """A client whose requests reach `fake` in this process, no socket involved: an `httpx2`
    client, as `openai` 3 wants (pass it as `http_client`, with `FAKE_BASE_URL`)."""
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake))


class FakeOpenAIServer:
    """Serve a FakeOpenAI with uvicorn on 127.0.0.1 (a free port) in a thread; entering gives
    the base URL to use as AI_BASE_URL (`http://127.0.0.1:PORT/v1`)."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        config = uvicorn.Config(fake, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fake-openai", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        (sock,) = self.server.servers[0].sockets
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}/v1"

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def fake_openai() -> FakeOpenAI:
    """A fresh fake for the test (import the fixture into a conftest or test module)."""
    return FakeOpenAI()


@pytest.fixture
def fake_openai_server(fake_openai: FakeOpenAI) -> Iterator[str]:
    """The test's `fake_openai` on loopback: its base URL, for AI_BASE_URL."""
    with FakeOpenAIServer(fake_openai) as base_url:
        yield base_url
