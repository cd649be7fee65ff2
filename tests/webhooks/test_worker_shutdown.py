"""SIGTERM to a job worker (`python -m jobs.worker`, PostgreSQL only) in the middle of a webhook
delivery to a slow receiver: within SHUTDOWN_TIMEOUT the worker finishes the delivery and exits
0; past it the delivery is cut, its claim given back and its job queued again, and another
worker delivers it. Either way the message is delivered once, with one recorded attempt."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections

from core.settings import ROOT, Settings
from models.webhooks import MessageStatus, WebhookAttempt, WebhookMessage
from tests.conftest import TEST_DB, Api
from tests.orgs.conftest import Team
from tests.webhooks.conftest import EVERYTHING, create_endpoint
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead

pytestmark = pytest.mark.skipif(TEST_DB != "postgres",
                                reason="separate worker processes need PostgreSQL")

WAIT = 30.0


class Workers:
    """Starts `python -m jobs.worker` processes with the test's database; kills what is left."""

    def __init__(self, settings: Settings, tmp: Path) -> None:
        self.settings = settings
        self.tmp = tmp
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith(("STRIPE_", "SMTP_"))}
        environment.update({
            "RELLEKS_ENV": "test", "DATABASE_URL": self.settings.database_url,
            "SECRET_KEY": self.settings.secret_key, "PUBLIC_URL": self.settings.public_url,
            "MEDIA_ROOT": str(self.settings.media_root), "WEBHOOK_ALLOW_LOOPBACK": "true",
            "WEBHOOK_TIMEOUT": "60", "JOBS_RETRY_WAIT": "0", "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1", **env})
        log = self.tmp / f"worker{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "jobs.worker", "--queues", "webhooks",
                 "--webhook-concurrency", "1"],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
        self.started.append(process)
        return process, log

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(settings, tmp_path)
    yield started
    started.close()


async def until(condition: Any, what: str) -> None:
    """Wait (at most WAIT seconds) until `condition()` (maybe async) holds."""
    deadline = time.monotonic() + WAIT
    while True:
        held = condition()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def exit_status(process: subprocess.Popen[bytes]) -> int:
    return await asyncio.to_thread(process.wait, WAIT)


async def state() -> tuple[WebhookMessage, list[WebhookAttempt]]:
    (message,) = await EVERYTHING.scoped(WebhookMessage).all()
    return message, await EVERYTHING.scoped(WebhookAttempt).all()


async def test_sigterm_lets_the_running_delivery_finish(
        app: Any, api: Api, team: Team, hook: Receiver, workers: Workers) -> None:
    await create_endpoint(api, team, hook.url)
    hook.delay = 120  # the receiver holds the delivery until the test releases it
    worker, log = workers.start(SHUTDOWN_TIMEOUT="60")
    await make_lead(api, team)
    await until(lambda: hook.requests, "the worker delivered")
    worker.send_signal(signal.SIGTERM)
    # The worker says it is stopping: SIGTERM arrived mid-delivery.
    await until(lambda: "jobs.worker_stopping" in log.read_text(), "the worker was stopping")
    assert worker.poll() is None
    hook.released.set()  # the receiver answers 200
    assert await exit_status(worker) == 0
    message, attempts = await state()
    assert message.status == MessageStatus.DELIVERED and message.attempts == 1
    assert [attempt.success for attempt in attempts] == [True]
    assert len(hook.requests) == 1


async def test_past_shutdown_timeout_the_delivery_is_given_back_and_done_once(
        app: Any, api: Api, team: Team, hook: Receiver, workers: Workers) -> None:
    await create_endpoint(api, team, hook.url)
    hook.delay = 120  # the receiver never answers the first request
    first, _ = workers.start(SHUTDOWN_TIMEOUT="1")
    await make_lead(api, team)
    await until(lambda: hook.requests, "the worker delivered")
    first.send_signal(signal.SIGTERM)
    assert await exit_status(first) == 0  # cut after SHUTDOWN_TIMEOUT, not hanging
    message, attempts = await state()
    # Given back: not counted, due again, no attempt recorded, its job queued again.
    assert message.status == MessageStatus.PENDING and message.attempts == 0
    assert message.dispatched_at is None and attempts == []
    _, jobs = await connections.get("default").execute_query(
        "SELECT status FROM procrastinate_jobs WHERE task_name = 'relleks.deliver_webhook' "
        "AND args->>'message_id' = $1", [str(message.id)])
    assert [job["status"] for job in jobs] == ["todo"]
    hook.delay = 0  # the receiver answers from now on
    workers.start()
    await until(lambda: len(hook.requests) == 2, "another worker delivered it")

    async def delivered() -> bool:
        return (await state())[0].status == MessageStatus.DELIVERED

    await until(delivered, "the message was delivered")
    message, attempts = await state()
    assert message.attempts == 1
    assert [attempt.success for attempt in attempts] == [True]
    # The same message both times (receivers deduplicate by webhook-id); only the second
    # request was answered.
    assert hook.requests[0].headers["webhook-id"] == hook.requests[1].headers["webhook-id"]
    hook.released.set()
