"""Tokens and list bounds: an API token needs the `ai:use` scope and can never turn AI on;
`lead.aiGenerations` is bounded and pages with its cursors."""

from __future__ import annotations

from models.ai import AiFeature, AiGeneration, AiStatus
from models.orgs import Role
from tests.ai.conftest import SUMMARY, finished, lead_of
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import db_id
from tests.orgs.conftest import Team
from tests.tokens.conftest import make_token

PAGE = """query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on Lead {
  aiGenerations(first: $first, after: $after) { totalCount
    pageInfo { hasNextPage endCursor } nodes { id text } } } } }"""


async def test_a_token_needs_the_scope_and_cannot_turn_ai_on(api: Api, team: Team) -> None:
    lead = await lead_of(api, team)
    without = await make_token(team, ["leads:read"])
    body = await api.gql(SUMMARY, {"lead": lead}, token=without.secret)
    assert error_code(body) == "FORBIDDEN"
    scoped = await make_token(team, ["leads:read", "ai:use"])
    body = await api.gql(SUMMARY, {"lead": lead}, token=scoped.secret)
    assert "errors" not in body, body
    done = await finished(api, body["data"]["generateLeadSummary"]["generation"]["id"],
                          scoped.secret)
    assert done["status"] == "SUCCEEDED"
    assert done["requestedBy"] == {"id": team.people[Role.ADMIN].id}  # the token's creator
    body = await api.gql("""mutation($org: ID!) { setOrganizationAiEnabled(input: {
        organizationId: $org, enabled: false}) { organization { aiEnabled } } }""",
                         {"org": team.org_id}, token=scoped.secret)
    assert error_code(body) == "FORBIDDEN"
    created = await api.gql("""mutation($input: CreateApiTokenInput!) {
        createApiToken(input: $input) { secret } }""", {"input": {
        "organizationId": team.org_id, "name": "AI admin", "scopes": ["ai:manage"]}},
                            token=team.people[Role.OWNER].token)
    assert error_code(created) == "BAD_USER_INPUT"
    assert "scopes" in errors_of(created)[0]["extensions"]["fields"]


async def test_lead_generations_are_bounded_and_paged(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER].token
    lead = await lead_of(api, team)
    for n in range(5):
        await AiGeneration.create(organization_id=team.org.id, lead_id=db_id(lead),
                                  feature=AiFeature.SUMMARY, status=AiStatus.SUCCEEDED,
                                  output_text=f"Summary {n}", credits_charged=1)
    for first in (21, -1):
        body = await api.gql(PAGE, {"id": lead, "first": first}, token=member)
        assert error_code(body) == "BAD_USER_INPUT", body
    body = await api.gql(PAGE, {"id": lead, "first": 3}, token=member)
    page = body["data"]["node"]["aiGenerations"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"] is True
    assert [n["text"] for n in page["nodes"]] == ["Summary 4", "Summary 3", "Summary 2"]
    body = await api.gql(PAGE, {"id": lead, "first": 3,
                                "after": page["pageInfo"]["endCursor"]}, token=member)
    rest = body["data"]["node"]["aiGenerations"]
    assert [n["text"] for n in rest["nodes"]] == ["Summary 1", "Summary 0"]
    assert rest["pageInfo"]["hasNextPage"] is False
    body = await api.gql(PAGE, {"id": lead, "first": 3, "after": "bm90IGEgY3Vyc29y"},
                         token=member)
    assert error_code(body) == "BAD_USER_INPUT"
