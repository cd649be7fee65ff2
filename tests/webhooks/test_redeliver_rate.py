"""`redeliverWebhookMessage` is rate limited per organization (WEBHOOK_REDELIVER_RATE, here
3 an hour): the fourth call is RATE_LIMITED (reason WEBHOOK_REDELIVERIES) and sends nothing;
another org's budget is its own, and another org's message is NOT_FOUND without spending it."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from core.settings import Settings
from models.orgs import Role
from models.webhooks import WebhookMessage
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team
from tests.webhooks.conftest import EVERYTHING, REDELIVER, create_endpoint, run_jobs
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_lead


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhook_redeliver_rate="3/hour")


def gid(message: WebhookMessage) -> str:
    return base64.b64encode(f"WebhookMessage:{message.id}".encode()).decode()


async def test_redelivery_is_rate_limited_per_organization(
        app: Any, api: Api, team: Team, rival: Team, hook: Receiver) -> None:
    await create_endpoint(api, team, hook.url)
    await create_endpoint(api, rival, hook.url)
    await make_lead(api, team)
    await make_lead(api, rival)
    await run_jobs(app)
    ours = await EVERYTHING.scoped(WebhookMessage).get(organization_id=team.org.id)
    theirs = await EVERYTHING.scoped(WebhookMessage).get(organization_id=rival.org.id)
    admin = team.people[Role.ADMIN].token
    # Another org's message: NOT_FOUND, and it spends nothing of either budget.
    for _ in range(5):
        assert error_code(await api.gql(REDELIVER, {"id": gid(theirs)}, token=admin)) == \
            "NOT_FOUND"
    for _ in range(3):
        body = await api.gql(REDELIVER, {"id": gid(ours)}, token=admin)
        assert body["data"]["redeliverWebhookMessage"]["webhookMessage"]["status"] == "PENDING"
    await run_jobs(app)
    sent = len(hook.requests)
    refused = await api.gql(REDELIVER, {"id": gid(ours)}, token=admin)
    assert error_code(refused) == "RATE_LIMITED"
    assert errors_of(refused)[0]["extensions"]["reason"] == "WEBHOOK_REDELIVERIES"
    await run_jobs(app)
    assert len(hook.requests) == sent
    # The rival's budget is untouched.
    rival_admin = rival.people[Role.ADMIN].token
    body = await api.gql(REDELIVER, {"id": gid(theirs)}, token=rival_admin)
    assert body["data"]["redeliverWebhookMessage"]["webhookMessage"]["status"] == "PENDING"
