"""A separate worker process (`python -m jobs.worker`, PostgreSQL only) killed with SIGKILL in
the middle of a delivery: the message stays PENDING, and once it is due again the sweep queues
it and another worker delivers it. The killed worker's job stays `doing` in procrastinate's
table, holding its lane's lock: once the worker has sent no heartbeat for a minute, the sweep
marks that job failed, so the lane (and the re-queued delivery in it) is not wedged."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections

from core.settings import ROOT, Settings
from jobs.sweep import sweep
from models.webhooks import MessageStatus, WebhookMessage
from tests.conftest import TEST_DB, Api
from tests.orgs.conftest import Team
from tests.privacy.conftest import services_of
from tests.webhooks.conftest import EVERYTHING, create_endpoint, run_jobs
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead

pytestmark = pytest.mark.skipif(TEST_DB != "postgres",
                                reason="separate worker processes need PostgreSQL")


@pytest.fixture
def worker(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_"))}
    env.update({"RELLEKS_ENV": "test", "DATABASE_URL": settings.database_url,
                "SECRET_KEY": settings.secret_key, "PUBLIC_URL": settings.public_url,
                "MEDIA_ROOT": str(settings.media_root), "WEBHOOK_ALLOW_LOOPBACK": "true",
                "WEBHOOK_TIMEOUT": "60", "LOG_LEVEL": "WARNING"})
    process = subprocess.Popen([sys.executable, "-m", "jobs.worker", "--concurrency", "1"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


async def test_a_worker_killed_mid_delivery_loses_nothing(
        app: Any, api: Api, team: Team, hook: Receiver,
        worker: subprocess.Popen[bytes]) -> None:
    await create_endpoint(api, team, hook.url)
    hook.delay = 30  # the receiver hangs: the worker is mid-delivery
    await make_lead(api, team)
    deadline = time.monotonic() + 30
    while not hook.requests:
        assert time.monotonic() < deadline, "the worker never delivered"
        await asyncio.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    (message,) = await EVERYTHING.scoped(WebhookMessage).all()
    assert message.status == MessageStatus.PENDING and message.attempts == 1
    # Time passes: the claim ran out and the dead worker's heartbeat is old; the sweep frees
    # the lane its job held, queues the message again and a worker delivers it.
    hook.delay = 0
    past = datetime.now(UTC) - timedelta(seconds=1)
    await EVERYTHING.scoped(WebhookMessage).update(next_attempt_at=past, dispatched_at=past)
    db = connections.get("default")
    _, held = await db.execute_query(
        "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND lock IS NOT NULL")
    assert len(held) == 1  # the killed worker's job still holds its lane
    await db.execute_query("UPDATE procrastinate_workers "
                           "SET last_heartbeat = now() - interval '5 minutes'")
    report = await sweep(services_of(app), lease=timedelta(0))
    _, still = await db.execute_query(
        "SELECT status FROM procrastinate_jobs WHERE id = $1", [held[0]["id"]])
    assert still[0]["status"] == "failed"
    assert report.webhook_messages == [str(message.id)]
    await run_jobs(app)
    (message,) = await EVERYTHING.scoped(WebhookMessage).all()
    assert message.status == MessageStatus.DELIVERED
    assert len(hook.requests) == 2
    assert hook.requests[0].headers["webhook-id"] == hook.requests[1].headers["webhook-id"]
