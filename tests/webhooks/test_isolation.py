"""A slow endpoint does not hold up another (issue 19): an endpoint that hangs takes at most its
WEBHOOK_LANES_PER_ENDPOINT lanes of the worker's WEBHOOK_CONCURRENCY slots, so a fast endpoint's
messages, queued after a backlog of the slow one's, are all delivered while the slow endpoint
has not answered once. Ordering, not timing: the slow receiver hangs until the test releases it.

On PostgreSQL the worker is a real `python -m jobs.worker` process with its default options; on
SQLite it is the embedded worker the server runs (`Jobs.start_worker`)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from core.settings import ROOT, Settings
from models.webhooks import MessageStatus, WebhookEndpoint, WebhookMessage
from services.queue import WEBHOOK_QUEUE, WEBHOOK_RELAY_TASK, WEBHOOK_TASK
from tests.conftest import TEST_DB, Api
from tests.orgs.conftest import Team
from tests.privacy.conftest import services_of
from tests.webhooks.conftest import EVERYTHING, create_endpoint, run_jobs
from tests.webhooks.receiver import Receiver, receiver
from tests.webhooks.test_delivery import make_lead

HANG = 120.0
"""How long the slow receiver hangs unless released (and the attempts' timeout)."""
BACKLOG = 12
"""The slow endpoint's messages queued before the fast endpoint exists: more than every slot
of the old worker (2) and more than the endpoint's lanes (4)."""
FAST = 6
WAIT = 60.0
"""At most this long for the fast deliveries (a busy shared machine), still under HANG."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhook_timeout=HANG, webhook_retry_schedule="0,1")


@pytest.fixture
async def slow() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        server.delay = HANG
        yield server
        server.released.set()


@pytest.fixture
async def fast() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        yield server


@pytest.fixture
def worker_process(settings: Settings) -> Iterator[subprocess.Popen[bytes] | None]:
    """On PostgreSQL, `python -m jobs.worker` as deployed (its default options)."""
    if TEST_DB != "postgres":
        yield None
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_"))}
    env.update({"RELLEKS_ENV": "test", "DATABASE_URL": settings.database_url,
                "SECRET_KEY": settings.secret_key, "PUBLIC_URL": settings.public_url,
                "MEDIA_ROOT": str(settings.media_root), "WEBHOOK_ALLOW_LOOPBACK": "true",
                "WEBHOOK_TIMEOUT": str(HANG), "LOG_LEVEL": "WARNING"})
    process = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    process.kill()
    process.wait()


@pytest.fixture
async def worker(app: Any, worker_process: subprocess.Popen[bytes] | None
                 ) -> AsyncIterator[None]:
    """The worker as deployed: a separate process on PostgreSQL, the embedded one on SQLite."""
    if worker_process is not None:
        yield
        return
    jobs = services_of(app).jobs
    jobs.start_worker()
    yield
    await jobs.stop_worker()


async def test_a_hanging_endpoint_does_not_hold_up_another(
        app: Any, api: Api, team: Team, slow: Receiver, fast: Receiver, worker: None) -> None:
    await create_endpoint(api, team, slow.url)
    for n in range(BACKLOG):
        await make_lead(api, team, name=f"Backlog {n}", email=f"b{n}@example.com")
    deadline = time.monotonic() + WAIT
    while not slow.requests:  # the worker is busy with the slow endpoint's backlog
        assert time.monotonic() < deadline, "the worker never started"
        await asyncio.sleep(0.1)
    fast_endpoint = await create_endpoint(api, team, fast.url)
    fast_id = fast_endpoint["data"]["createWebhookEndpoint"]["webhookEndpoint"]["id"]
    assert fast_id
    for n in range(FAST):
        await make_lead(api, team, name=f"Fast {n}", email=f"f{n}@example.com")
    while len(fast.requests) < FAST:
        assert time.monotonic() < deadline, (
            f"the fast endpoint got {len(fast.requests)}/{FAST} messages while the slow one "
            f"hung with {len(slow.requests)} requests in flight")
        await asyncio.sleep(0.1)
    # Every fast message arrived while the slow endpoint has not answered once: its messages
    # are all PENDING (none delivered, none failed), and it holds at most its lanes' slots.
    assert not slow.released.is_set()
    assert 1 <= len(slow.requests) <= services_of(app).settings.webhook_lanes_per_endpoint
    messages = await EVERYTHING.scoped(WebhookMessage).all()
    by_url = {url: [m for m in messages if m.endpoint_id == endpoint_id]
              for url, endpoint_id in await endpoints_by_url()}
    assert len(by_url[slow.url]) == BACKLOG + FAST
    assert {m.status for m in by_url[slow.url]} == {MessageStatus.PENDING}
    assert len({r.headers["webhook-id"] for r in fast.requests}) == FAST
    deadline = time.monotonic() + WAIT
    while any(m.status != MessageStatus.DELIVERED
              for m in await EVERYTHING.scoped(WebhookMessage).filter(
                  id__in=[m.id for m in by_url[fast.url]])):
        assert time.monotonic() < deadline, "the fast deliveries were never recorded"
        await asyncio.sleep(0.1)


async def endpoints_by_url() -> list[tuple[str, Any]]:
    rows = await EVERYTHING.scoped(WebhookEndpoint).values_list("url", "id")
    return [(str(url), endpoint_id) for url, endpoint_id in rows]


async def test_a_later_attempt_waits_outside_its_lane(app: Any, api: Api, team: Team,
                                                      fast: Receiver) -> None:
    """A retry due later is a lock-free relay job: the locked delivery job is queued only when
    it is due, so a waiting retry never holds up the lane's other messages."""
    services = services_of(app)
    fast.answers = [500]
    await create_endpoint(api, team, fast.url)
    await make_lead(api, team)
    (message,) = await EVERYTHING.scoped(WebhookMessage).all()
    manager = services.jobs.app.job_manager

    async def jobs_of(task: str, status: str | None = None) -> list[Any]:
        return [job for job in await manager.list_jobs_async(task=task, status=status)
                if job.task_kwargs.get("message_id") == str(message.id)]

    (first,) = await jobs_of(WEBHOOK_TASK)
    assert first.lock is not None and first.lock.startswith("webhook:")
    assert first.queue == WEBHOOK_QUEUE
    await services.jobs.run_worker(wait=False)
    assert len(fast.requests) == 1
    (relay,) = await jobs_of(WEBHOOK_RELAY_TASK)
    assert relay.lock is None and relay.status == "todo" and relay.scheduled_at is not None
    assert await jobs_of(WEBHOOK_TASK, "todo") == []
    await asyncio.sleep(1.2)
    await run_jobs(app)
    await message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and len(fast.requests) == 2
    second = [job for job in await jobs_of(WEBHOOK_TASK) if job.id != first.id]
    assert [job.lock for job in second] == [first.lock]  # the same lane as the first attempt
