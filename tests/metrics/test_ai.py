"""AI credits used: a summary generated over GraphQL through the real `openai` client against
the fake provider on loopback is counted with its credits, by feature."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from core.settings import Settings
from models.orgs import Role
from tests.ai.conftest import SUMMARY, fake_openai, fake_openai_server, finished, lead_of, team
from tests.ai_fake import FakeOpenAI
from tests.conftest import Api
from tests.metrics.conftest import METRICS_TOKEN, scrape, value
from tests.orgs.conftest import Team

__all__ = ["fake_openai", "fake_openai_server", "team"]  # the AI tests' fixtures, used here


@pytest.fixture
def settings(settings: Settings, fake_openai_server: str) -> Settings:
    return dataclasses.replace(settings, ai_base_url=fake_openai_server, ai_model="fake-model",
                               ai_api_key="sk-test-key", ai_timeout_seconds=2.0,
                               metrics_token=METRICS_TOKEN)


async def test_ai_credits_used(api: Api, http: httpx.AsyncClient, team: Team,
                               fake_openai: FakeOpenAI) -> None:
    before = await scrape(http)
    lead = await lead_of(api, team, company="Navy")
    body = await api.gql(SUMMARY, {"lead": lead}, token=team.people[Role.MEMBER].token)
    generation = body["data"]["generateLeadSummary"]["generation"]
    done = await finished(api, generation["id"], team.people[Role.ADMIN].token)
    assert done["status"] == "SUCCEEDED"
    after = await scrape(http)
    credits = value(after, "relleks_ai_credits_total", feature="summary") - \
        value(before, "relleks_ai_credits_total", feature="summary")
    assert credits == 1
    succeeded = value(after, "relleks_ai_generations_total", feature="summary",
                      status="succeeded") - value(before, "relleks_ai_generations_total",
                                                  feature="summary", status="succeeded")
    assert succeeded == 1
