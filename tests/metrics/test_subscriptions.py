"""Open WebSockets and the subscriptions running on them, in a server process of its own:
counted while they run, and no longer once they end; and each operation started on a socket in
the request and error counters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.orgs import Role
from tests.metrics.conftest import METRICS_TOKEN, Samples, parse, value
from tests.orgs.conftest import Team
from tests.realtime.conftest import (
    Server,
    bearer,
    rival,
    socket,
    start_server,
    stop_server,
    team,
)
from tests.realtime.helpers import LEAD_EVENTS

__all__ = ["rival", "team"]  # the realtime tests' fixtures, used here


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


async def test_each_operation_started_on_a_socket_is_counted_with_its_errors(
        server: Server, team: Team, rival: Team) -> None:
    before = await scrape(server)
    not_found = value(before, "relleks_graphql_errors_total", code="NOT_FOUND")
    bad_input = value(before, "relleks_graphql_errors_total", code="BAD_USER_INPUT")
    named = LEAD_EVENTS.replace("subscription(", "subscription LeadWatch(", 1)
    async with socket(server) as ws:
        assert await ws.init(bearer(team.people[Role.MEMBER].token)) == \
            {"type": "connection_ack"}
        await ws.subscribe(named, {"org": team.org_id}, id="own")
        # Another org's stream: refused NOT_FOUND, counted with its error.
        await ws.send({"id": "theirs", "type": "subscribe", "payload": {
            "query": named, "variables": {"org": rival.org_id},
            "operationName": "LeadWatch"}})
        refused = await ws.next("theirs")
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        # A query over the socket, and a document that does not validate.
        await ws.subscribe("query WhoAmI { me { id } }", id="me")
        assert "errors" not in await ws.next("me")
        await ws.subscribe("subscription Broken { noSuchField }", id="broken")
        broken = await ws.next("broken")
        assert broken["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        for _ in range(50):
            samples = await scrape(server)
            if value(samples, "relleks_graphql_requests_total", operation="LeadWatch",
                     type="subscription") >= 2:
                break
            await asyncio.sleep(0.1)
        assert value(samples, "relleks_graphql_requests_total", operation="LeadWatch",
                     type="subscription") == 2
        assert value(samples, "relleks_graphql_requests_total", operation="WhoAmI",
                     type="query") == 1
        assert value(samples, "relleks_graphql_requests_total", operation="Broken",
                     type="subscription") == 1
        assert value(samples, "relleks_graphql_errors_total", code="NOT_FOUND") == \
            not_found + 1
        assert value(samples, "relleks_graphql_errors_total", code="BAD_USER_INPUT") == \
            bad_input + 1
        # No latency is observed for an operation on a socket (a subscription has none).
        assert value(samples, "relleks_graphql_request_duration_seconds_count",
                     operation="LeadWatch", type="subscription") == 0
