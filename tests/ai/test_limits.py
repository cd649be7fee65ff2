"""Metering and abuse: the plan's monthly AI credits (PLAN_LIMIT), the per-person rate limit
(RATE_LIMITED), and reading generations under a page of leads in a fixed number of
statements."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from core.settings import Settings
from models.ai import AiFeature, AiGeneration, AiStatus
from models.orgs import Role
from tests.ai.conftest import SUMMARY, enable, finished, lead_of
from tests.conftest import Api, count_sql, error_code, errors_of
from tests.leads.conftest import db_id
from tests.orgs.conftest import Team, make_team

RATE = 4


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ai_rate_per_user=f"{RATE}/hour")


async def test_the_free_plan_has_no_ai_credits(api: Api, settings: Settings) -> None:
    team = await make_team(api, settings, f"free-{secrets.token_hex(3)}")
    await enable(api, team)
    lead = await lead_of(api, team)
    body = await api.gql(SUMMARY, {"lead": lead}, token=team.people[Role.MEMBER].token)
    assert error_code(body) == "PLAN_LIMIT"
    extensions = errors_of(body)[0]["extensions"]
    assert (extensions["resource"], extensions["limit"], extensions["plan"]) == \
        ("ai_credits_per_month", 0, "FREE")


async def test_a_spent_month_is_plan_limit_and_charges_add_up(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER].token
    lead = await lead_of(api, team)
    body = await api.gql(SUMMARY, {"lead": lead}, token=member)
    await finished(api, body["data"]["generateLeadSummary"]["generation"]["id"], member)
    # The rest of the month's 2,000 credits spent by earlier calls.
    await AiGeneration.create(organization_id=team.org.id, lead_id=db_id(lead),
                              feature=AiFeature.SUMMARY, status=AiStatus.SUCCEEDED,
                              credits_charged=1999)
    body = await api.gql(SUMMARY, {"lead": lead}, token=member)
    assert error_code(body) == "PLAN_LIMIT"
    assert errors_of(body)[0]["extensions"]["used"] == 2000


async def test_one_person_is_rate_limited(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER].token
    lead = await lead_of(api, team)
    for _ in range(RATE):
        body = await api.gql(SUMMARY, {"lead": lead}, token=member)
        assert "errors" not in body, body
    body = await api.gql(SUMMARY, {"lead": lead}, token=member)
    assert error_code(body) == "RATE_LIMITED"
    assert errors_of(body)[0]["extensions"]["reason"] == "AI_CALLS"
    # Another member still may.
    body = await api.gql(SUMMARY, {"lead": lead}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body


PAGE = """query($slug: String!, $first: Int!) { organization(slug: $slug) {
  leads(first: $first) { nodes { id aiGenerations(first: 3) { totalCount
    nodes { id status text feature requestedBy { id name } } } } } } }"""


async def test_generations_of_a_page_of_leads_cost_the_same_for_any_page_size(
        api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER]
    leads = [db_id(await lead_of(api, team, name=f"Lead {n}")) for n in range(8)]
    for lead_id in leads:
        for _ in range(2):
            await AiGeneration.create(organization_id=team.org.id, lead_id=lead_id,
                                      requested_by_id=member.user.id,
                                      feature=AiFeature.SUMMARY, status=AiStatus.SUCCEEDED,
                                      output_text="A summary.", credits_charged=1)
    counts = {}
    for size in (2, 8):
        with count_sql() as sql:
            body = await api.gql(PAGE, {"slug": team.slug, "first": size}, token=member.token)
        assert "errors" not in body, body
        nodes = body["data"]["organization"]["leads"]["nodes"]
        assert len(nodes) == size
        assert all(len(n["aiGenerations"]["nodes"]) == 2 for n in nodes)
        assert all(n["aiGenerations"]["nodes"][0]["requestedBy"]["id"] == member.id
                   for n in nodes)
        counts[size] = sql.count
    # totalCount is one COUNT per lead (asked for here on purpose): without it the page is flat.
    assert counts[8] - counts[2] == 6, counts
    flat = PAGE.replace("totalCount", "")
    flat_counts = {}
    for size in (2, 8):
        with count_sql() as sql:
            body = await api.gql(flat, {"slug": team.slug, "first": size}, token=member.token)
        assert "errors" not in body, body
        flat_counts[size] = sql.count
    assert flat_counts[2] == flat_counts[8], flat_counts
