"""Fixtures for the outbound HTTP client (`services/outbound.py`): the real DNS server on
loopback (`tests/nameserver.py`) that maps test names to whatever addresses a test needs, and
a `Receiver`, a tiny HTTP server on 127.0.0.1 that records every connection it accepts, so a
test can assert that a refused URL never reached it.

No database: these tests run in the SQLite leg only (`no_db`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from core.settings import Settings
from services.dns import Dns
from tests.nameserver import Zone, dns_server


@pytest.fixture(scope="session")
def nameserver() -> Iterator[tuple[Zone, int]]:
    with dns_server() as server:
        yield server


@pytest.fixture
def zone(nameserver: tuple[Zone, int]) -> Zone:
    nameserver[0].reset()
    return nameserver[0]


@pytest.fixture
def strict(nameserver: tuple[Zone, int]) -> Settings:
    """Production's rules (no loopback, https only), asking the test DNS server."""
    return Settings(env="test", dns_nameservers=(f"127.0.0.1:{nameserver[1]}",),
                    dns_timeout=2.0)


@pytest.fixture
def local(strict: Settings) -> Settings:
    """WEBHOOK_ALLOW_LOOPBACK on: http:// and 127.0.0.1 receivers, as in development."""
    return dataclasses.replace(strict, webhook_allow_loopback=True)


@pytest.fixture
def dns(strict: Settings) -> Dns:
    return Dns(strict)


@dataclass
class Seen:
    """One request a receiver read: its head (request line and headers) and body."""

    head: str
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass
class Receiver:
    """An HTTP/1.1 server on 127.0.0.1 answering every request with `answer` (raw bytes),
    after `delay` seconds, optionally over TLS, then (`drip`) one more byte every `drip`
    seconds until the client leaves; it counts connections before reading a byte."""

    answer: bytes = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    delay: float = 0.0
    drip: float = 0.0
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[Seen] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            seen = Seen(head, b"")
            length = seen.header("content-length")
            if length:
                seen.body = await reader.readexactly(int(length))
            self.requests.append(seen)
            if self.delay:
                await asyncio.sleep(self.delay)
            writer.write(self.answer)
            await writer.drain()
            while self.drip:
                await asyncio.sleep(self.drip)
                writer.write(b"x")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    async with served(found):
        yield found


class served:
    """Serve `receiver` on a free port of 127.0.0.1 while the block runs."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def __aenter__(self) -> Receiver:
        server = await asyncio.start_server(self.receiver.handle, self.receiver.host, 0,
                                            ssl=self.receiver.tls)
        self.receiver.server = server
        self.receiver.port = server.sockets[0].getsockname()[1]
        return self.receiver

    async def __aexit__(self, *_: object) -> None:
        assert self.receiver.server is not None
        self.receiver.server.close()
        await self.receiver.server.wait_closed()
