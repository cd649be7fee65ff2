"""Metrics of several server processes (`python -m scripts.serve`): one scrape sums them
(prometheus-client's multiprocess mode), a stopped process leaves the live gauges, and the
metrics listener of its own is served by the first process to bind it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import websockets

from tests.metrics.conftest import METRICS_TOKEN, Samples, parse, value
from tests.serving import served
from tests.smtp import free_port

pytestmark = pytest.mark.no_db  # each server has its own SQLite file

REQUESTS = "relleks_graphql_requests_total"


def ping(port: int, times: int) -> None:
    for _ in range(times):
        response = httpx.post(f"http://127.0.0.1:{port}/graphql",
                              json={"query": "query Ping { __typename }"}, timeout=10)
        assert response.status_code == 200, response.text


def scrape(url: str, token: str | None = METRICS_TOKEN) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return parse(response.text)


def live_files(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir() if "live" in path.name}


def test_one_scrape_sums_every_process(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    metrics_port = free_port()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "METRICS_TOKEN": METRICS_TOKEN,
           "METRICS_PORT": str(metrics_port)}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with served(tmp_path / "a", **env) as first:
        with served(tmp_path / "b", **env) as second:
            ping(first, 3)
            ping(second, 2)
            for port in (first, second):  # either process renders both
                samples = scrape(f"http://127.0.0.1:{port}/metrics")
                assert value(samples, REQUESTS, operation="Ping", type="query") == 5
            # The listener of its own (the first process bound it; the second found it taken)
            # needs no token.
            samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics", token=None)
            assert value(samples, REQUESTS, operation="Ping", type="query") == 5
            assert httpx.get(f"http://127.0.0.1:{second}/metrics").status_code == 401
            both = live_files(shared)
            asyncio.run(open_socket_and_scrape(second, first))
        # The stopped process marked itself dead: its live gauges are gone, its counts stay.
        left = live_files(shared)
        assert left < both
        samples = scrape(f"http://127.0.0.1:{first}/metrics")
        assert value(samples, REQUESTS, operation="Ping", type="query") == 5
        assert value(samples, "relleks_websocket_connections") == 0


async def open_socket_and_scrape(socket_port: int, scrape_port: int) -> None:
    """An open WebSocket on one process shows in a scrape of the other, and leaves it closed."""
    url = f"ws://127.0.0.1:{socket_port}/graphql"
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol(
            "graphql-transport-ws")]):
        samples = await asyncio.to_thread(scrape, f"http://127.0.0.1:{scrape_port}/metrics")
        assert value(samples, "relleks_websocket_connections") == 1
    for _ in range(50):
        samples = await asyncio.to_thread(scrape, f"http://127.0.0.1:{scrape_port}/metrics")
        if value(samples, "relleks_websocket_connections") == 0:
            break
        await asyncio.sleep(0.1)
    assert value(samples, "relleks_websocket_connections") == 0


def test_serve_makes_a_directory_for_several_workers(tmp_path: Path) -> None:
    """`scripts.serve --workers 2` without PROMETHEUS_MULTIPROC_DIR makes one: the two workers'
    requests add up in one scrape, whichever worker answers it."""
    with served(tmp_path, METRICS_TOKEN=METRICS_TOKEN, WEB_CONCURRENCY="2") as port:
        ping(port, 6)
        totals = {value(scrape(f"http://127.0.0.1:{port}/metrics"), REQUESTS,
                        operation="Ping", type="query") for _ in range(4)}
    assert totals == {6}
