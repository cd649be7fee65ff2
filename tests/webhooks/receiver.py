"""A webhook receiver on loopback for the tests: a tiny HTTP/1.1 server on asyncio that
records every request (headers and body) and answers from a script of statuses.

    async with receiver() as hook:
        hook.answers = [500, 200]       # then 200 for ever
        ... hook.url, hook.requests ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    answers: list[int | tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    delay: float = 0.0
    released: asyncio.Event = field(default_factory=asyncio.Event)
    """Set it to end every delay at once (a hanging receiver answers now)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(path, headers, body))
            answer = self.answers.pop(0) if self.answers else self.default
            status, extra, content = (answer, {}, b"ok") if isinstance(answer, int) else answer
            if self.delay and not self.released.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.released.wait(), self.delay)
            more = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: {len(content)}\r\n{more}"
                         f"connection: close\r\n\r\n".encode() + content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    server = await asyncio.start_server(hook.handle, "127.0.0.1", 0)
    hook.port = server.sockets[0].getsockname()[1]
    try:
        yield hook
    finally:
        server.close()
        await server.wait_closed()
