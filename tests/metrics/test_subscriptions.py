"""Open WebSockets and the subscriptions running on them, in a server process of its own:
counted while they run, and no longer once they end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.orgs import Role
from tests.metrics.conftest import METRICS_TOKEN, Samples, parse, value
from tests.orgs.conftest import Team
from tests.realtime.conftest import Server, bearer, socket, start_server, stop_server, team
from tests.realtime.helpers import LEAD_EVENTS

__all__ = ["team"]  # the realtime tests' fixture, used here


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    started = start_server(database_url, tmp_path, "metrics", METRICS_TOKEN=METRICS_TOKEN)
    yield started
    stop_server(started)


async def scrape(server: Server) -> Samples:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get("/metrics",
                                    headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    return parse(response.text)


async def settled(server: Server, connections: int, subscriptions: int) -> Samples:
    """The scrape once the gauges show these figures (the server updates them as it goes)."""
    for _ in range(50):
        samples = await scrape(server)
        if (value(samples, "relleks_websocket_connections"),
                value(samples, "relleks_websocket_subscriptions")) == (connections,
                                                                       subscriptions):
            return samples
        await asyncio.sleep(0.1)
    return samples


async def test_sockets_and_subscriptions_are_counted(server: Server, team: Team) -> None:
    async with socket(server) as ws:
        assert await ws.init(bearer(team.people[Role.MEMBER].token)) == \
            {"type": "connection_ack"}
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="2")
        samples = await settled(server, 1, 2)
        assert value(samples, "relleks_websocket_connections") == 1
        assert value(samples, "relleks_websocket_subscriptions") == 2
        await ws.send({"id": "2", "type": "complete"})
        samples = await settled(server, 1, 1)
        assert value(samples, "relleks_websocket_subscriptions") == 1
    samples = await settled(server, 0, 0)
    assert value(samples, "relleks_websocket_connections") == 0
    assert value(samples, "relleks_websocket_subscriptions") == 0
