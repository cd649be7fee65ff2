"""Server processes as production runs them (`python -m scripts.serve`, one or several worker
processes), a Stripe that answers when the test says so, and a team.

The slow peer is the fake Stripe (`tests/billing/fake_stripe.py`) behind a `Gate`: a request to
the gated path waits there until the test opens the gate, so a request is in flight at the API
for as long as the test needs, with no sleeps and no mocks of our code.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Settings
from tests.billing.conftest import API_KEY, PRICES, WEBHOOK_SECRET
from tests.billing.fake_stripe import FakeStripe, FakeStripeServer
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.realtime.conftest import ROOT, SERVER_ENV, Server, wait_until_up
from tests.smtp import free_port

WAIT = 30.0
"""Deadline (seconds) of each wait for a condition; the waits end as soon as it holds."""


class Gate:
    """An ASGI wrapper holding every request to `path` until the gate is opened."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path
        self.arrived = threading.Event()
        self.opened = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            self.arrived.set()
            # A threading event (the test opens it from another thread), waited on off the
            # server's loop.
            await asyncio.to_thread(self.opened.wait, WAIT * 4)
        await self.app(scope, receive, send)

    async def wait_arrived(self) -> None:
        assert await asyncio.to_thread(self.arrived.wait, WAIT), "no request reached the gate"

    def reset(self) -> None:
        self.arrived.clear()
        self.opened.clear()


@pytest.fixture(scope="session")
def gated_stripe() -> Iterator[tuple[Gate, str]]:
    """The fake Stripe on loopback with its customer creation gated."""
    fake = FakeStripe(api_key=API_KEY, prices=PRICES)
    gate = Gate(fake.app, "/v1/customers")
    served = FakeStripeServer(fake)
    served.server.config.app = gate  # the config loads its app when the server starts
    with served as base_url:
        yield gate, base_url
    gate.opened.set()


@pytest.fixture
def gate(gated_stripe: tuple[Gate, str]) -> Iterator[Gate]:
    gate = gated_stripe[0]
    gate.reset()
    yield gate
    gate.opened.set()  # let a request still held go


@pytest.fixture
def stripe_env(gated_stripe: tuple[Gate, str]) -> dict[str, str]:
    return {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": gated_stripe[1], "STRIPE_TIMEOUT": "60",
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            **{f"STRIPE_PRICE_{price.upper().removeprefix('PRICE_')}": price
               for price in PRICES}}


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, f"sd-{secrets.token_hex(3)}")


def serve(database_url: str, tmp: Path, name: str, *, workers: int = 1, port: int = 0,
          **env: str) -> Server:
    """`python -m scripts.serve` on `port` (default: a free one), started and answering
    `/healthz`."""
    port = port or free_port()
    log = tmp / f"{name}.log"
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"REDIS_URL", "SMTP_URL"} and not key.startswith("STRIPE_")}
    environment.update(SERVER_ENV, DATABASE_URL=database_url, MEDIA_ROOT=str(tmp / name),
                       WEB_CONCURRENCY="1", **env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    return wait_until_up(Server(process, port, log), name)


async def exit_status(process: subprocess.Popen[Any], wait: float = WAIT) -> int:
    """The process's exit status, waiting for it to exit (at most `wait` seconds)."""
    return await asyncio.to_thread(process.wait, wait)


def kill(server: Server) -> None:
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()
