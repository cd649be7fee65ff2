"""SIGTERM to `python -m scripts.serve`, with one worker process and with two: the request in
flight finishes with its write committed, new connections are refused, an open subscription's
socket is closed with 1012 "Service Restart" (clients reconnect), and the process exits 0;
past SHUTDOWN_TIMEOUT what still runs is cut."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.orgs import Role
from tests.billing.conftest import BILLING, START_CHECKOUT
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.realtime.conftest import bearer, socket
from tests.realtime.helpers import LEAD_EVENTS
from tests.shutdown.conftest import WAIT, Gate, exit_status, kill, serve

SERVICE_RESTART = 1012


def checkout(team: Team) -> dict[str, Any]:
    return {"query": START_CHECKOUT, "variables": {"input": {
        "organizationId": team.org_id, "plan": "PRO", "interval": "MONTH"}}}


async def has_customer(api: Api, team: Team) -> bool:
    body = await api.gql(BILLING, {"slug": team.slug}, token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    return bool(body["data"]["organization"]["billing"]["hasCustomer"])


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_finishes_the_request_in_flight_and_restarts_sockets(
        api: Api, team: Team, gate: Gate, stripe_env: dict[str, str], database_url: str,
        tmp_path: Path, workers: int) -> None:
    server = serve(database_url, tmp_path, f"api{workers}", workers=workers,
                   SHUTDOWN_TIMEOUT="30", **stripe_env)
    owner = team.people[Role.OWNER].token
    try:
        async with socket(server) as ws, httpx.AsyncClient(base_url=server.url,
                                                           timeout=WAIT * 2) as client:
            assert await ws.init(bearer(owner)) == {"type": "connection_ack"}
            await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
            slow = asyncio.create_task(client.post("/graphql", json=checkout(team),
                                                   headers=bearer(owner)))
            await gate.wait_arrived()  # the checkout waits on Stripe: it is in flight
            server.process.send_signal(signal.SIGTERM)
            code, _ = await ws.closed(WAIT)
            assert code == SERVICE_RESTART
            # Shutting down, it takes no new connection (with several workers too: the
            # supervisor's socket no longer listens).
            with pytest.raises(httpx.ConnectError):
                async with httpx.AsyncClient(timeout=5) as fresh:
                    await fresh.get(f"{server.url}/healthz")
            assert not slow.done()
            gate.opened.set()  # Stripe answers: the request finishes
            response = await slow
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]["startCheckout"]["billingSession"]["url"]
        assert await exit_status(server.process) == 0
        assert await has_customer(api, team)  # its write was committed
    finally:
        kill(server)


async def test_past_shutdown_timeout_the_request_is_cut_and_the_process_exits(
        api: Api, team: Team, gate: Gate, stripe_env: dict[str, str], database_url: str,
        tmp_path: Path) -> None:
    server = serve(database_url, tmp_path, "cut", SHUTDOWN_TIMEOUT="1", **stripe_env)
    owner = team.people[Role.OWNER].token
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT * 2) as client:
            slow = asyncio.create_task(client.post("/graphql", json=checkout(team),
                                                   headers=bearer(owner)))
            await gate.wait_arrived()
            server.process.send_signal(signal.SIGTERM)
            # Stripe never answers: after SHUTDOWN_TIMEOUT the request is cut, and the
            # process ends without waiting for it.
            assert await exit_status(server.process) == 0
            try:
                response = await slow
            except httpx.HTTPError:
                pass  # the connection was dropped
            else:
                assert response.status_code >= 500, response.text
        assert not await has_customer(api, team)  # nothing half-done
    finally:
        kill(server)
