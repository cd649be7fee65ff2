"""Both ways jobs run: a worker inside the server process (the embedded default on SQLite, and
JOBS_IN_PROCESS on PostgreSQL), and separate worker processes on PostgreSQL (`python -m
jobs.worker`), including one killed with SIGKILL in the middle of a job."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import ROOT, Settings
from jobs.sweep import sweep
from models.billing import BillingAccount, Plan, SubscriptionStatus
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.orgs import Organization, Role
from server import create_app
from tests.billing.fake_stripe import FakeStripe
from tests.conftest import TEST_DB, Api
from tests.orgs.conftest import Team
from tests.privacy.conftest import pass_grace_period, run_due_work, services_of
from tests.smtp import Inbox

REQUEST = "mutation { requestDataExport { dataExport { status } } }"
postgres_only = pytest.mark.skipif(TEST_DB != "postgres",
                                   reason="separate worker processes need PostgreSQL")


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def status_of(kind: WorkKind) -> WorkStatus | None:
    work = await ScheduledWork.filter(kind=kind).first()
    return work.status if work else None


async def test_the_embedded_worker_runs_jobs_inside_the_server(
        settings: Settings, team: Team, inbox: Inbox) -> None:
    embedded = create_app(dataclasses.replace(settings, jobs_in_process=True),
                          manage_database=False)
    async with embedded.router.lifespan_context(embedded):
        transport = httpx.ASGITransport(app=embedded)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            body = await Api(http).gql(REQUEST, token=team.people[Role.MEMBER].token)
            assert body["data"]["requestDataExport"]["dataExport"]["status"] == "PENDING"

            async def done() -> bool:
                return await status_of(WorkKind.USER_EXPORT) is WorkStatus.DONE
            await until(done)
    assert inbox.to(team.people[Role.MEMBER].email, "export is ready")


def _worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_"))}
    env.update({
        "RELLEKS_ENV": "test", "DATABASE_URL": settings.database_url,
        "SMTP_URL": settings.smtp_url or "", "MEDIA_ROOT": str(settings.media_root),
        "PUBLIC_URL": settings.public_url, "JOBS_RETRY_WAIT": "0",
        "STRIPE_SECRET_KEY": settings.stripe_secret_key or "",
        "STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret or "",
        "STRIPE_API_BASE": settings.stripe_api_base or "", "STRIPE_TIMEOUT": "30",
        "STRIPE_MAX_NETWORK_RETRIES": "0", "EXECUTION_TIMEOUT": "100", "LOG_LEVEL": "WARNING",
    })
    return env


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobs.worker", "--concurrency", "1"], cwd=ROOT,
            env=_worker_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@postgres_only
async def test_a_separate_worker_process_runs_the_jobs(
        api: Api, team: Team, inbox: Inbox, worker: Callable[[], Any],
        media_root: Path) -> None:
    worker()
    await api.gql(REQUEST, token=team.people[Role.MEMBER].token)

    async def done() -> bool:
        return await status_of(WorkKind.USER_EXPORT) is WorkStatus.DONE
    await until(done)
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    assert work.archive_key and (media_root / work.archive_key).is_file()
    assert inbox.to(team.people[Role.MEMBER].email, "export is ready")


@postgres_only
async def test_a_worker_killed_mid_job_loses_nothing(
        api: Api, app: Any, team: Team, stripe: FakeStripe,
        worker: Callable[[], subprocess.Popen[bytes]]) -> None:
    subscription = stripe.new_subscription("cus_acme", "price_pro_month")
    await BillingAccount.create(organization=team.org, stripe_customer_id="cus_acme",
                                stripe_subscription_id=subscription["id"],
                                subscription_plan=Plan.PRO, status=SubscriptionStatus.ACTIVE)
    body = await api.gql("""mutation($id: ID!) { deleteOrganization(input: {organizationId: $id,
      confirmSlug: "acme"}) { scheduledDeletion { status } } }""", {"id": team.org_id},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"]["status"] == "PENDING"
    (work,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION)
    await pass_grace_period(work.id)
    stripe.fail_next(1, delay=20, status=None)  # Stripe hangs: the job is mid-way
    process = worker()
    # The dying worker's job is queued for the due date: the sweep finds the work due now.
    await sweep(services_of(app), lease=timedelta(0))

    async def mid_job() -> bool:
        row = await ScheduledWork.get(id=work.id)
        return row.status is WorkStatus.RUNNING and bool(stripe.calls)
    await until(mid_job)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    row = await ScheduledWork.get(id=work.id)
    assert row.status is WorkStatus.RUNNING and row.attempts == 1
    assert await Organization.exists(id=team.org.id)

    # Another worker (here, in this process) finishes it once the sweep re-queues it.
    await run_due_work(app)
    row = await ScheduledWork.get(id=work.id)
    assert row.status is WorkStatus.DONE, row.last_error
    assert row.attempts == 2
    assert not await Organization.exists(id=team.org.id)
    assert stripe.subscriptions[subscription["id"]]["status"] == "canceled"
