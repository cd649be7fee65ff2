"""Webhook deliveries by outcome: a lead created over GraphQL, its delivery failing once and
then succeeding at a receiver on loopback."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from core.settings import Settings
from jobs.webhooks import ATTEMPTED
from models.orgs import Role
from tests.conftest import Api
from tests.metrics.conftest import METRICS_TOKEN, scrape, value
from tests.orgs.conftest import Team, make_team
from tests.webhooks.conftest import CREATE_LEAD, create_endpoint, hook, run_jobs
from tests.webhooks.receiver import Receiver

__all__ = ["hook"]  # the receiver fixture, used here

ATTEMPTS = "relleks_webhook_attempts_total"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, metrics_token=METRICS_TOKEN, webhook_allow_loopback=True,
        webhook_retry_schedule="0,0,0", webhook_timeout=2.0, jobs_in_process=False,
        jobs_retry_wait=0, jobs_max_attempts=2)


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


async def test_deliveries_and_failures(app: Any, api: Api, http: httpx.AsyncClient, team: Team,
                                       hook: Receiver) -> None:
    made = await create_endpoint(api, team, hook.url)
    assert "errors" not in made, made
    before = await scrape(http)
    hook.answers = [500]
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                 "name": "Ada Lovelace"}},
                         token=team.people[Role.MEMBER].token)
    assert "errors" not in body, body
    await run_jobs(app)
    assert len(hook.requests) == 2
    after = await scrape(http)

    def moved(outcome: str) -> float:
        return value(after, ATTEMPTS, outcome=outcome) - value(before, ATTEMPTS, outcome=outcome)

    assert (moved("retry"), moved("delivered")) == (1, 1)
    assert sum(moved(outcome) for outcome in ATTEMPTED) == 2
    assert hook.url not in (await http.get("/metrics", headers={
        "authorization": f"Bearer {METRICS_TOKEN}"})).text
