"""Compiled operations (`engine/compiler/`): Q1 answered by its plan, the same answer as the
ordinary executor's for every caller, the same errors where the plan falls back, separate plans
per variable shape, a bounded cache, and the same cost.

The suite runs with `COMPILED_OPERATIONS=check` (tests/conftest.py): every compiled answer is
also computed by the ordinary executor and compared (a mismatch fails the run). These tests
prove the plan ran by the process's counts (`engine.compiler.STATS`), which only the plan's
run increments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from core.settings import Settings
from engine.compiler import MISMATCHES, STATS, cached_plans
from models.leads import Lead
from models.orgs import Role
from tests.compiled.conftest import Q1
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.tokens.conftest import make_token


async def compiled(api: Api, query: str, variables: dict[str, Any] | None,
                   token: str) -> tuple[dict[str, Any], int, int]:
    """The body, and how many answers plans gave and abandoned meanwhile."""
    answered, abandoned = STATS.answered, STATS.abandoned
    body = await api.gql(query, variables, token=token)
    return body, STATS.answered - answered, STATS.abandoned - abandoned


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return connection["nodes"]


async def test_q1_is_answered_by_its_plan(api: Api, app: Any, team: Team) -> None:
    mismatches = len(MISMATCHES)
    body, answered, abandoned = await compiled(api, Q1, {"slug": "acme"},
                                               team.people[Role.MEMBER].token)
    assert "errors" not in body, body
    assert (answered, abandoned) == (1, 0)
    assert len(MISMATCHES) == mismatches  # the ordinary executor gave the same answer
    org = body["data"]["organization"]
    assert org["slug"] == "acme"
    assert len(nodes(org["members"])) == 4
    leads = nodes(org["leads"])
    # Newest first, decrypted; a person sees the restricted lead.
    assert [lead["name"] for lead in leads] == [f"Lead {i}" for i in range(4, -1, -1)]
    assert leads[1]["email"] == "lead3@example.com" and leads[1]["phone"] == "+14155550003"
    assert leads[1]["owner"] == {"name": "Mia Member"} and leads[0]["owner"] is None
    assert [n["body"] for n in nodes(leads[1]["notes"])] == ["Note 1 on 3", "Note 0 on 3"]
    # The columns hold ciphertext: the plan decrypted them.
    rows = await connections.get("default").execute_query_dict(
        "SELECT email, phone FROM leads WHERE name = 'Lead 3'")
    assert all(str(value).startswith("enc:v1:") for value in rows[0].values())
    # And a second time: the same plan, from the cache.
    before = cached_plans(app.state.schema)
    again, answered, _ = await compiled(api, Q1, {"slug": "acme"},
                                        team.people[Role.MEMBER].token)
    assert again == body and answered == 1
    assert cached_plans(app.state.schema) == before


async def test_a_viewer_gets_the_same_answer(api: Api, team: Team) -> None:
    body, answered, _ = await compiled(api, Q1, {"slug": "acme"}, team.people[Role.VIEWER].token)
    assert "errors" not in body and answered == 1
    assert len(nodes(body["data"]["organization"]["leads"])) == 5


async def test_a_token_never_sees_a_restricted_lead(api: Api, team: Team) -> None:
    token = await make_token(team, ["leads:read", "members:read"])
    body, answered, _ = await compiled(api, Q1, {"slug": "acme"}, token.secret)
    assert "errors" not in body and answered == 1, body
    assert [lead["name"] for lead in nodes(body["data"]["organization"]["leads"])] == [
        f"Lead {i}" for i in range(3, -1, -1)]


async def test_a_narrow_token_gets_the_ordinary_errors(api: Api, team: Team) -> None:
    """Without `members:read` the members page and the users' emails are FORBIDDEN: the plan
    abandons before reading a row, and the ordinary executor answers with its errors."""
    token = await make_token(team, ["leads:read"])
    body, answered, abandoned = await compiled(api, Q1, {"slug": "acme"}, token.secret)
    assert (answered, abandoned) == (0, 1)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    # Without the people's emails, the same token's leads come from the plan.
    leads_only = """query($slug: String!) { organization(slug: $slug) {
        leads(first: 10) { nodes { name email owner { name } } } } }"""
    body, answered, _ = await compiled(api, leads_only, {"slug": "acme"}, token.secret)
    assert "errors" not in body and answered == 1, body
    assert len(nodes(body["data"]["organization"]["leads"])) == 4


async def test_another_orgs_slug_is_not_found_as_before(api: Api, settings: Settings,
                                                        team: Team) -> None:
    rival = await make_team(api, settings, "globex", prefix="rival.")
    body, answered, abandoned = await compiled(api, Q1, {"slug": "globex"},
                                               team.people[Role.OWNER].token)
    assert (answered, abandoned) == (0, 1)
    assert body["data"] == {"organization": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    body, answered, _ = await compiled(api, Q1, {"slug": "nowhere"},
                                       rival.people[Role.OWNER].token)
    assert body["data"] == {"organization": None} and answered == 0


async def test_variable_shapes_get_plans_of_their_own(api: Api, team: Team) -> None:
    """A plan is kept per document and variable shape: a new value of the same shape reuses
    it, a null where there was a number is another operation (here one the compiler leaves
    to the resolver: no `first`)."""
    query = """query($slug: String!, $n: Int) { organization(slug: $slug) {
        leads(first: $n) { nodes { name } } } }"""
    token = team.people[Role.MEMBER].token
    compiled_before, refused_before = STATS.compiled, STATS.uncompilable
    body, answered, _ = await compiled(api, query, {"slug": "acme", "n": 2}, token)
    assert answered == 1 and len(nodes(body["data"]["organization"]["leads"])) == 2
    assert (STATS.compiled, STATS.uncompilable) == (compiled_before + 1, refused_before)
    body, answered, _ = await compiled(api, query, {"slug": "acme", "n": 3}, token)
    assert answered == 1 and len(nodes(body["data"]["organization"]["leads"])) == 3
    assert (STATS.compiled, STATS.uncompilable) == (compiled_before + 1, refused_before)
    body, answered, _ = await compiled(api, query, {"slug": "acme", "n": None}, token)
    assert answered == 0  # no `first`: not compiled; the resolver's default page
    assert len(nodes(body["data"]["organization"]["leads"])) == 5
    assert (STATS.compiled, STATS.uncompilable) == (compiled_before + 1, refused_before + 1)


async def test_the_cache_stays_bounded(api: Api, app: Any, team: Team) -> None:
    token = team.people[Role.MEMBER].token
    for i in range(30):
        body = await api.gql(f'{{ organization(slug: "acme") {{ n{i}: name }} }}', token=token)
        assert body["data"]["organization"] == {f"n{i}": "Team acme"}
    assert cached_plans(app.state.schema) == 8


async def test_an_unsupported_selection_falls_back(api: Api, team: Team) -> None:
    """Arguments the compiler does not handle (`orderBy`), a field with a resolver
    (`createdAt`): the ordinary executor answers, as it always did."""
    query = """query($slug: String!) { organization(slug: $slug) { createdAt
        leads(first: 5, orderBy: {field: NAME, direction: ASC}) { nodes { name } } } }"""
    uncompilable = STATS.uncompilable
    body, answered, _ = await compiled(api, query, {"slug": "acme"},
                                       team.people[Role.MEMBER].token)
    assert answered == 0 and STATS.uncompilable == uncompilable + 1
    assert [lead["name"] for lead in nodes(body["data"]["organization"]["leads"])] == [
        f"Lead {i}" for i in range(5)]


async def test_the_cost_is_the_same_either_way(api: Api, team: Team) -> None:
    token = team.people[Role.MEMBER].token
    response = await api.http.post("/graphql", json={"query": Q1, "variables": {"slug": "acme"}},
                                   headers={"authorization": f"Bearer {token}"})
    answered = STATS.answered
    # The same operation with a field selected twice: the compiler refuses it, the ordinary
    # executor answers, and the cost model counts it the same.
    twice = Q1.replace("name\n    slug", "name\n    name\n    slug")
    assert twice != Q1
    ordinary = await api.http.post("/graphql",
                                   json={"query": twice, "variables": {"slug": "acme"}},
                                   headers={"authorization": f"Bearer {token}"})
    assert STATS.answered == answered
    assert response.json()["data"] == ordinary.json()["data"]
    cost, ordinary_cost = response.json()["extensions"]["cost"], \
        ordinary.json()["extensions"]["cost"]
    assert cost["requested"] == ordinary_cost["requested"] == 441
    assert response.headers["RateLimit-Limit"] == ordinary.headers["RateLimit-Limit"]
    assert int(response.headers["RateLimit-Remaining"]) - 441 == \
        int(ordinary.headers["RateLimit-Remaining"])


SEARCH = """query Search($slug: String!, $statuses: [LeadStatus!]) {
  organization(slug: $slug) {
    leads(first: 50, filter: {status: $statuses}, orderBy: {field: UPDATED_AT, direction: DESC}) {
      totalCount
      nodes { id name email status updatedAt owner { id name } }
    }
  }
}"""


async def test_the_search_page_is_compiled(api: Api, team: Team) -> None:
    """Leads filtered by status, the most recently updated first, with their owners and the
    total: a filter and an order the declaration expresses (`compiled_leads_page`)."""
    later = datetime(2026, 6, 1, tzinfo=UTC)
    for i, status in ((1, "won"), (3, "won"), (2, "lost")):
        await Lead._scoped(team.org.id).filter(name=f"Lead {i}").update(
            status=status, updated_at=later + timedelta(minutes=i))
    token = team.people[Role.MEMBER].token
    body, answered, _ = await compiled(api, SEARCH, {"slug": "acme", "statuses": ["WON"]}, token)
    assert "errors" not in body and answered == 1, body
    leads = body["data"]["organization"]["leads"]
    assert leads["totalCount"] == 2
    assert [lead["name"] for lead in leads["nodes"]] == ["Lead 3", "Lead 1"]
    body, answered, _ = await compiled(api, SEARCH, {"slug": "acme",
                                                     "statuses": ["WON", "LOST"]}, token)
    assert answered == 1 and body["data"]["organization"]["leads"]["totalCount"] == 3
    body, answered, _ = await compiled(api, SEARCH, {"slug": "acme", "statuses": []}, token)
    assert answered == 1 and body["data"]["organization"]["leads"]["totalCount"] == 5
    # No lead matches: no row to carry the window's count, and the total is 0.
    body, answered, _ = await compiled(api, SEARCH, {"slug": "acme", "statuses": ["CONTACTED"]},
                                       token)
    assert answered == 1
    assert body["data"]["organization"]["leads"] == {"totalCount": 0, "nodes": []}
    # A token's search leaves the restricted lead out of the page and of the total.
    narrow = await make_token(team, ["leads:read", "members:read"])
    body, answered, _ = await compiled(api, SEARCH, {"slug": "acme", "statuses": None},
                                       narrow.secret)
    assert answered == 1 and body["data"]["organization"]["leads"]["totalCount"] == 4


DETAIL = """query Detail($id: ID!) {
  lead(id: $id) {
    id name email phone status company title
    owner { name }
    notes(first: 20) { nodes { id body createdAt author { name } } }
  }
}"""


async def test_the_detail_page_is_compiled(api: Api, team: Team) -> None:
    """One lead by id with its owner and its newest notes with their authors; another org's
    lead, or a restricted one asked for by a token, is NOT_FOUND as before."""
    token = team.people[Role.VIEWER].token
    ids = await api.gql('query($slug: String!) { organization(slug: $slug) { '
                        'leads(first: 10) { nodes { id name } } } }', {"slug": "acme"},
                        token=token)
    by_name = {n["name"]: n["id"] for n in ids["data"]["organization"]["leads"]["nodes"]}
    body, answered, _ = await compiled(api, DETAIL, {"id": by_name["Lead 3"]}, token)
    assert "errors" not in body and answered == 1, body
    lead = body["data"]["lead"]
    assert (lead["name"], lead["email"], lead["owner"]) == (
        "Lead 3", "lead3@example.com", {"name": "Mia Member"})
    assert [n["body"] for n in lead["notes"]["nodes"]] == ["Note 1 on 3", "Note 0 on 3"]
    narrow = await make_token(team, ["leads:read"])
    body, answered, abandoned = await compiled(api, DETAIL, {"id": by_name["Lead 4"]},
                                               narrow.secret)
    assert (answered, abandoned) == (0, 1)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    body, answered, _ = await compiled(api, DETAIL, {"id": by_name["Lead 2"]}, narrow.secret)
    assert answered == 1 and body["data"]["lead"]["name"] == "Lead 2"
