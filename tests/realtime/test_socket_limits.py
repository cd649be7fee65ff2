"""Open WebSockets are capped per credential (session, API token, OAuth grant) and per client IP:
one over the cap is closed with 4429 "Too many connections". The count is shared by every process
through Redis, and a process that dies leaves nothing behind once its sockets' leases lapse.

These servers are the module's own (small caps, a short lease, a longer connection_init timeout
so sockets that have not sent it yet stay open), with their own Redis prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from models.orgs import Role
from tests.orgs.conftest import Team
from tests.realtime.conftest import (
    REDIS_URL,
    Server,
    Socket,
    bearer,
    socket,
    start_pair,
    start_server,
    stop_server,
)
from tests.tokens.conftest import make_token

PER_CREDENTIAL = 2
PER_IP = 4
LEASE = 2
TOO_MANY = 4429
LIMITS = {"WS_MAX_SOCKETS_PER_CREDENTIAL": str(PER_CREDENTIAL),
          "WS_MAX_SOCKETS_PER_IP": str(PER_IP),
          "WS_SOCKET_LEASE_SECONDS": str(LEASE),
          "WS_INIT_TIMEOUT": "30"}
PREFIX = f"relleks-test-caps-{secrets.token_hex(4)}:"


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("socket-limits")


@pytest.fixture(scope="module")
def pair(database_url: str, tmp: Path) -> Iterator[tuple[Server, Server]]:
    """Two processes counting in the same Redis."""
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set: counting across processes needs Redis")
    env = {**LIMITS, "REDIS_URL": REDIS_URL, "REALTIME_CHANNEL_PREFIX": PREFIX}
    first, second = start_pair(database_url, tmp, ("caps-first", "caps-second"), **env)
    yield first, second
    stop_server(first)
    stop_server(second)


@pytest.fixture(scope="module")
def alone(database_url: str, tmp: Path) -> Iterator[Server]:
    """One process without Redis: it counts in memory."""
    server = start_server(database_url, tmp, "caps-alone", **LIMITS)
    yield server
    stop_server(server)


@contextlib.asynccontextmanager
async def opened(server: Server, payload: dict[str, str] | None = None
                 ) -> AsyncIterator[Socket]:
    """A socket, acknowledged when `payload` is given."""
    async with socket(server) as ws:
        if payload is not None:
            assert await ws.init(payload) == {"type": "connection_ack"}
        else:
            await ws.nothing(0.2)  # not refused on arrival
        yield ws


async def refused(server: Server, payload: dict[str, str] | None = None) -> str:
    """The reason a socket over a cap is closed with 4429 (after connection_init when
    `payload` is given, at once otherwise)."""
    async with socket(server) as ws:
        if payload is not None:
            await ws.send({"type": "connection_init", "payload": payload})
        code, reason = await ws.closed()
    assert code == TOO_MANY, (code, reason)
    return reason


async def caps_per_credential(first: Server, second: Server, team: Team) -> None:
    owner = bearer(team.people[Role.OWNER].token)
    async with opened(first, owner), opened(second, owner):
        assert await refused(first, owner) == "Too many connections"
        assert await refused(second, owner) == "Too many connections"
        # Another person (another session) is not affected.
        async with opened(second, bearer(team.people[Role.VIEWER].token)):
            pass
    # Closing frees the places.
    async with opened(second, owner), opened(first, owner):
        pass


async def test_sockets_per_session_are_capped_across_processes(
        pair: tuple[Server, Server], team: Team) -> None:
    await caps_per_credential(*pair, team)


async def test_sockets_per_session_are_capped_in_one_process(alone: Server,
                                                              team: Team) -> None:
    await caps_per_credential(alone, alone, team)


async def test_sockets_per_api_token_are_capped(pair: tuple[Server, Server], alone: Server,
                                                team: Team) -> None:
    token = {"token": (await make_token(team, ["leads:read"])).secret}
    for first, second in (pair, (alone, alone)):
        async with opened(first, token), opened(second, token):
            await refused(first, token)
        async with opened(first, token):
            pass


async def caps_per_ip(first: Server, second: Server) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for n in range(PER_IP):
            await stack.enter_async_context(opened(first if n % 2 else second))
        # Refused at once, before any connection_init.
        assert await refused(first) == "Too many connections"
        assert await refused(second) == "Too many connections"
    async with opened(first), opened(second):
        pass


async def test_sockets_per_ip_are_capped_across_processes(pair: tuple[Server, Server]) -> None:
    await caps_per_ip(*pair)


async def test_sockets_per_ip_are_capped_in_one_process(alone: Server) -> None:
    await caps_per_ip(alone, alone)


async def test_a_living_socket_keeps_its_place_past_the_lease(pair: tuple[Server, Server],
                                                              team: Team) -> None:
    first, second = pair
    owner = bearer(team.people[Role.OWNER].token)
    async with opened(first, owner), opened(second, owner):
        await asyncio.sleep(LEASE * 2)  # the leases were renewed meanwhile
        await refused(first, owner)


async def test_the_places_of_a_dead_process_come_back(pair: tuple[Server, Server], tmp: Path,
                                                      database_url: str, team: Team) -> None:
    first, _ = pair
    owner = bearer(team.people[Role.OWNER].token)
    doomed = start_server(database_url, tmp, "caps-doomed", **LIMITS, REDIS_URL=REDIS_URL or "",
                          REALTIME_CHANNEL_PREFIX=PREFIX)
    try:
        async with opened(doomed, owner), opened(doomed, owner):
            assert await refused(first, owner) == "Too many connections"
            doomed.process.send_signal(signal.SIGKILL)  # no chance to release anything
            doomed.process.wait(10)
    finally:
        stop_server(doomed)
    deadline = time.monotonic() + LEASE * 10
    while True:  # the dead process's leases lapse
        async with socket(first) as ws:
            await ws.send({"type": "connection_init", "payload": owner})
            try:
                if await ws.receive() == {"type": "connection_ack"}:
                    break
            except Exception:  # closed with 4429: not yet
                pass
        assert time.monotonic() < deadline, "the dead process's sockets still count"
        await asyncio.sleep(0.5)
