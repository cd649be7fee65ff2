"""Keep-alive as the server is run (`python -m scripts.serve`): an idle connection stays open for
`KEEPALIVE_TIMEOUT` seconds (75 by default, not uvicorn's 5), longer than the clients' and the
proxy's idle expiry, so that no client sends a request on a connection the server is closing at
that moment: that race is what gave the soak its `httpx.ReadError`s (docs/deployment.md,
"Keep-alive").
"""

from __future__ import annotations

import asyncio
import http.client
import random
import time
from collections.abc import Iterator

import httpx
import pytest

from core.settings import ConfigurationError, Settings
from tests import serving

pytestmark = pytest.mark.no_db

SHORT = 2
"""The keep-alive of the second server, seconds."""


@pytest.fixture(scope="module")
def default_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serving.served(tmp_path_factory.mktemp("keepalive"), RELLEKS_ENV="test") as port:
        yield port


@pytest.fixture(scope="module")
def short_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serving.served(tmp_path_factory.mktemp("keepalive-short"), RELLEKS_ENV="test",
                        KEEPALIVE_TIMEOUT=str(SHORT)) as port:
        yield port


def test_an_idle_connection_outlives_the_clients_default_expiry(default_port: int) -> None:
    """httpx, like most clients, drops idle connections after 5 s: the server keeps them longer
    (uvicorn's own 5 s made the two race)."""
    connection = http.client.HTTPConnection("127.0.0.1", default_port, timeout=10)
    connection.request("GET", "/healthz")
    first = connection.getresponse()
    assert first.status == 200 and first.read()
    assert first.getheader("connection") != "close"
    assert connection.sock is not None
    local = connection.sock.getsockname()
    time.sleep(6)  # past httpx's (and uvicorn's default) 5 s
    connection.request("GET", "/healthz")
    second = connection.getresponse()
    assert second.status == 200 and second.read()
    assert connection.sock is not None and connection.sock.getsockname() == local  # the same
    connection.close()


def test_the_server_closes_a_connection_idle_past_its_keepalive(short_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", short_port, timeout=SHORT + 20)
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    assert response.status == 200 and response.read()
    assert connection.sock is not None
    assert connection.sock.recv(1) == b""  # the server closed it (the read waits for that)
    connection.close()


async def test_a_client_that_expires_first_never_meets_a_closed_connection(
        short_port: int) -> None:
    """Clients whose idle expiry is shorter than the server's keep-alive, sending requests
    spaced on both sides of each: every request is answered, on a reused connection or a new
    one."""
    limits = httpx.Limits(max_connections=10, keepalive_expiry=SHORT / 2)
    answered, failed = 0, []
    opened: set[tuple[str, int]] = set()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal answered
        for _ in range(6):
            try:
                response = await http.get("/healthz")
                answered += response.status_code == 200
                stream = response.extensions["network_stream"]
                opened.add(stream.get_extra_info("client_addr"))
            except httpx.HTTPError as exc:
                failed.append(repr(exc))
            await asyncio.sleep(random.uniform(SHORT / 2 - 0.3, SHORT + 0.3))

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{short_port}", limits=limits,
                                 timeout=10) as http:
        await asyncio.gather(*(client(http) for _ in range(10)))
    assert failed == []
    assert answered == 60
    assert 10 <= len(opened) < 60  # some connections were reused, some opened anew


def test_keepalive_timeout_is_a_setting() -> None:
    assert Settings().keepalive_timeout == 75
    assert Settings.from_env({"KEEPALIVE_TIMEOUT": "30"}).keepalive_timeout == 30
    with pytest.raises(ConfigurationError):
        Settings.from_env({"KEEPALIVE_TIMEOUT": "0"})
