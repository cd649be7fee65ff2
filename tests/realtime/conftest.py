"""Real servers for the realtime tests: uvicorn processes on loopback, against the run's database.

Two processes share Redis (`REDIS_URL`, with a channel prefix unique to the run), so a mutation
sent to one reaches a subscriber of the other; a third runs with the in-process broker. They use
the test database of the leg (on SQLite the same file: WAL lets several processes share it, and
these tests write little), and small limits (`SERVER_ENV`) so each limit is reachable.

Subscriptions are registered asynchronously, after their permission check; a test waits for
them with `wait_subscribed`, which polls Redis's `PUBSUB NUMSUB` for the topic's channel (a
process subscribes to a channel for its first local subscriber, so tests keep one subscriber per
process and topic when they need to know it is listening).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

from core.settings import Settings
from tests.orgs.conftest import Team, make_team
from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL")
PREFIX = f"relleks-test-{secrets.token_hex(4)}:"
ALLOWED_ORIGIN = "http://app.test"
BUFFER = 8
MAX_SUBSCRIPTIONS = 3
MAX_MESSAGE_BYTES = 8000
TRANSPORT_WS = Subprotocol("graphql-transport-ws")

SERVER_ENV = {
    "RELLEKS_ENV": "test",
    "LOG_LEVEL": "WARNING",
    "ALLOWED_ORIGINS": ALLOWED_ORIGIN,
    "LOGIN_RATE_PER_ACCOUNT": "1000/minute",
    "LOGIN_RATE_PER_IP": "1000/minute",
    "COST_BUDGET_SCALE": "100",
    "WS_INIT_TIMEOUT": "1",
    "WS_MAX_SUBSCRIPTIONS": str(MAX_SUBSCRIPTIONS),
    "WS_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
    "REALTIME_BUFFER": str(BUFFER),
    "REALTIME_CHANNEL_PREFIX": PREFIX,
}

@dataclass
class Server:
    """One uvicorn process: `url` for HTTP, `ws` for WebSocket."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *,
                  token: str | None = None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=self.url, timeout=20) as client:
            response = await client.post("/graphql", json={"query": query,
                                                           "variables": variables},
                                         headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


def start_server(database_url: str, tmp: Path, name: str, **env: str) -> Server:
    port = free_port()
    log = tmp / f"{name}.log"
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"REDIS_URL", "SMTP_URL"}}
    environment.update(SERVER_ENV, DATABASE_URL=database_url, MEDIA_ROOT=str(tmp / name), **env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log"],
            cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    return wait_until_up(Server(process, port, log), name)


def wait_until_up(server: Server, name: str) -> Server:
    """`server` once it answers `/healthz`; if it exits or is not up within 60 s, it is
    stopped and the error quotes the end of its log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server {name} exited: {server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"server {name} did not start: {server.log.read_text()[-3000:]}")


def start_pair(database_url: str, tmp: Path, names: tuple[str, str],
               **env: str) -> tuple[Server, Server]:
    """Two processes with the same settings (say Redis), both up or neither left running."""
    first = start_server(database_url, tmp, names[0], **env)
    try:
        return first, start_server(database_url, tmp, names[1], **env)
    except Exception:
        stop_server(first)
        raise


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def servers(database_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Server, Server]]:
    """Two processes sharing Redis."""
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set: the realtime tests across processes need Redis")
    tmp = tmp_path_factory.mktemp("realtime")
    first, second = start_pair(database_url, tmp, ("first", "second"), REDIS_URL=REDIS_URL)
    yield first, second
    stop_server(first)
    stop_server(second)


@pytest.fixture(scope="session")
def embedded(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One process with the in-process broker (no Redis)."""
    server = start_server(database_url, tmp_path_factory.mktemp("embedded"), "embedded")
    yield server
    stop_server(server)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def wait_subscribed(redis: Redis, topic: str, processes: int = 1) -> None:
    """Until `processes` server processes listen on `topic`'s channel."""
    channel = PREFIX + topic
    for _ in range(200):
        counts = dict(await redis.pubsub_numsub(channel))
        if counts.get(channel.encode(), 0) >= processes:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nobody subscribed to {topic}")


@pytest.fixture
async def team(api: Any, settings: Settings) -> Team:
    """An org with an OWNER, ADMIN, MEMBER and VIEWER (see tests/orgs)."""
    return await make_team(api, settings, f"rt-{secrets.token_hex(3)}")


@pytest.fixture
async def rival(api: Any, settings: Settings) -> Team:
    return await make_team(api, settings, f"rv-{secrets.token_hex(3)}", prefix="rival.")


class Socket:
    """A graphql-transport-ws client over the `websockets` library."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def receive(self, wait: float = 10) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), wait)
        return orjson.loads(raw)

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None,
                        id: str = "1") -> None:
        await self.start({"query": query, "variables": variables or {}}, id)

    async def start(self, payload: dict[str, Any], id: str = "1") -> None:
        """A `subscribe` message with any payload (a trusted document's id, say)."""
        await self.send({"id": id, "type": "subscribe", "payload": payload})

    async def next(self, id: str = "1", wait: float = 10) -> dict[str, Any]:
        """The next `next` payload of operation `id` (messages of others are skipped)."""
        while True:
            message = await self.receive(wait)
            if message.get("id") == id:
                assert message["type"] in {"next", "error"}, message
                return message["payload"] if message["type"] == "next" \
                    else {"errors": message["payload"]}

    async def first_event(self, make: Callable[[int], Awaitable[object]], id: str = "1",
                          attempts: int = 40, wait: float = 0.5) -> dict[str, Any]:
        """The first `next` payload of operation `id`, calling `make(attempt)` (which makes an
        event: a lead, say) until one arrives. For a server without Redis, where nothing says
        when a subscription is registered: an event made before then is not delivered."""
        for attempt in range(attempts):
            await make(attempt)
            try:
                return await self.next(id, wait)
            except TimeoutError:
                continue
        raise AssertionError("no event arrived")

    async def ended(self, id: str = "1", wait: float = 10) -> dict[str, Any]:
        """The final error of operation `id`, and its `complete`."""
        payload = await self.next(id, wait)
        assert payload.get("errors"), payload
        message = await self.receive(wait)
        assert message == {"id": id, "type": "complete"}, message
        return payload["errors"][0]

    async def nothing(self, wait: float = 0.5) -> None:
        try:
            message = await self.receive(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def closed_ending(self, id: str = "1", wait: float = 10) -> tuple[int, str]:
        """The close code and reason of a socket whose credential ended; operation `id` may
        first end with its own error (when an event found out before the socket was closed).
        """
        while True:
            try:
                message = orjson.loads(await asyncio.wait_for(self.connection.recv(), wait))
            except ConnectionClosed as exc:
                assert exc.rcvd is not None
                return exc.rcvd.code, exc.rcvd.reason
            assert message.get("id") == id and message["type"] in {"next", "complete"}, message
            if message["type"] == "next":
                assert message["payload"].get("errors"), message

    async def closed(self, wait: float = 10) -> tuple[int, str]:
        """The close code and reason; fails if any message arrives first."""
        try:
            message = await asyncio.wait_for(self.connection.recv(), wait)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code, exc.rcvd.reason
        raise AssertionError(f"unexpected message before close: {message}")


def socket(server: Server, *, origin: str | None = None, cookie: str | None = None,
           subprotocols: list[Subprotocol] | None = None) -> Any:
    """`async with socket(server) as ws:` a connection speaking graphql-transport-ws."""
    headers = {"cookie": cookie} if cookie else None

    class _Open:
        async def __aenter__(self) -> Socket:
            self.cm = connect(server.ws, subprotocols=subprotocols or [TRANSPORT_WS],
                              origin=Origin(origin) if origin else None,
                              additional_headers=headers, open_timeout=10)
            return Socket(await self.cm.__aenter__())

        async def __aexit__(self, *exc: Any) -> None:
            await self.cm.__aexit__(*exc)

    return _Open()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

