"""The AI domain's tests: the real app over HTTP with the real `openai` client talking to the
fake OpenAI-compatible server on loopback (`tests/ai_fake.py`), an org on a paid plan."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from typing import Any

import pytest

from core.settings import Settings
from models.billing import BillingAccount, Plan, SubscriptionStatus
from models.orgs import Role
from tests import ai_fake
from tests.ai_fake import FakeOpenAI
from tests.conftest import Api
from tests.leads.conftest import create_lead
from tests.orgs.conftest import Team, make_team

__all__ = ["FakeOpenAI"]

fake_openai = ai_fake.fake_openai
fake_openai_server = ai_fake.fake_openai_server

GENERATION = """id feature status text purpose errorCode errorMessage createdAt finishedAt
  leadId nextSteps { action reason } requestedBy { id }"""
PROVENANCE = """provenance { provider model promptVersion inputHash dataManifest inputTokens
  outputTokens creditsCharged latencyMs }"""
SUMMARY = f"""mutation($lead: ID!) {{ generateLeadSummary(input: {{leadId: $lead}}) {{
  generation {{ {GENERATION} }} }} }}"""
NEXT_STEPS = f"""mutation($lead: ID!) {{ suggestNextSteps(input: {{leadId: $lead}}) {{
  generation {{ {GENERATION} }} }} }}"""
DRAFT = f"""mutation($lead: ID!, $purpose: String!) {{
  draftEmail(input: {{leadId: $lead, purpose: $purpose}}) {{ generation {{ {GENERATION} }} }} }}"""
ENABLE = """mutation($org: ID!, $enabled: Boolean!) {
  setOrganizationAiEnabled(input: {organizationId: $org, enabled: $enabled}) {
    organization { id aiEnabled } } }"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on AiGeneration {{ {GENERATION} }} }} }}"""
NODE_WITH_PROVENANCE = f"""query($id: ID!) {{ node(id: $id) {{ ... on AiGeneration {{
  {GENERATION} {PROVENANCE} }} }} }}"""
USAGE = f"""query($slug: String!) {{ organization(slug: $slug) {{ aiEnabled aiUsage {{
  month enabled creditsUsed creditsLimit calls failedCalls
  generations(first: 10) {{ totalCount nodes {{ id status {PROVENANCE} }} }} }} }} }}"""


@pytest.fixture
def settings(settings: Settings, fake_openai_server: str) -> Settings:
    """The app asks the loopback fake (a short timeout, so a timeout test is quick)."""
    return dataclasses.replace(settings, ai_base_url=fake_openai_server, ai_model="fake-model",
                               ai_api_key="sk-test-key", ai_timeout_seconds=2.0)


async def subscribe(team: Team, plan: Plan = Plan.PRO) -> None:
    """Put the org on a paid plan, as the billing webhook would."""
    await BillingAccount.create(organization=team.org, subscription_plan=plan,
                                status=SubscriptionStatus.ACTIVE)


async def enable(api: Api, team: Team, enabled: bool = True) -> dict[str, Any]:
    body = await api.gql(ENABLE, {"org": team.org_id, "enabled": enabled},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    return body


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    """An org on PRO with AI turned on."""
    team = await make_team(api, settings, f"ai-{secrets.token_hex(3)}")
    await subscribe(team)
    await enable(api, team)
    return team


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    rival = await make_team(api, settings, f"rv-{secrets.token_hex(3)}", prefix="rival.")
    await subscribe(rival)
    await enable(api, rival)
    return rival


async def lead_of(api: Api, team: Team, **fields: Any) -> str:
    return str((await create_lead(api, team, **fields))["id"])


async def finished(api: Api, generation_id: str, token: str, *,
                   provenance: bool = False) -> dict[str, Any]:
    """Poll the generation until it SUCCEEDED or FAILED (the call runs after the response)."""
    query = NODE_WITH_PROVENANCE if provenance else NODE
    for _ in range(200):
        body = await api.gql(query, {"id": generation_id}, token=token)
        assert "errors" not in body, body
        node = body["data"]["node"]
        assert node is not None
        if node["status"] in {"SUCCEEDED", "FAILED"}:
            return node
        await asyncio.sleep(0.05)
    raise AssertionError(f"generation {generation_id} did not finish")
