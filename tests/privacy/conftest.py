"""Fixtures for the data-rights tests: mail through the local SMTP server, Stripe through its
fake, and a job worker the test runs itself (`run_jobs`), so each test says when jobs run.

`team` is the org "acme" (OWNER, ADMIN, MEMBER, VIEWER) from `tests/orgs/conftest.py`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.jobs import ScheduledWork
from services import Services
from tests.billing.conftest import STRIPE_SETTINGS, stripe, stripe_server  # noqa: F401
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.smtp import Inbox


@pytest.fixture
def settings(settings: Settings, smtp_server: tuple[Inbox, int],
             stripe_server: tuple[Any, str]) -> Settings:  # noqa: F811
    return dataclasses.replace(
        settings, smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}",
        stripe_api_base=stripe_server[1], **{**STRIPE_SETTINGS, "stripe_timeout": 2.0},
        jobs_in_process=False, jobs_retry_wait=0, jobs_max_attempts=2)


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


def services_of(app: Any) -> Services:
    return app.state.services


async def run_jobs(app: Any) -> None:
    """Run every job queued now (and retries due now), then return."""
    await services_of(app).jobs.run_worker(wait=False)


async def pass_grace_period(work_id: Any) -> None:
    """Move a scheduled deletion's due time to the past, as if the grace period were over."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    await ScheduledWork.filter(id=work_id).update(due_at=past, dispatched_at=past)


async def run_due_work(app: Any) -> None:
    """What happens once the grace period is over: the queued job is scheduled for the real due
    date, so the sweep (with no lease: "queued long ago") queues the work again, and it runs."""
    from jobs.sweep import sweep

    await sweep(services_of(app), lease=timedelta(0))
    await run_jobs(app)


def unzip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


async def download(http: httpx.AsyncClient, url: str) -> httpx.Response:
    assert url.startswith("http://testserver/exports/"), url
    return await http.get(url.removeprefix("http://testserver"))


def data_json(files: dict[str, str]) -> dict[str, Any]:
    return json.loads(files["data.json"])
