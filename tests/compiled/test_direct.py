"""Queries answered by their plans without Strawberry's execute (`engine/direct.py`): a text
answered by a plan once, or a trusted document, is answered directly the next time, with the
same body, cost and headers; every way it could differ from the ordinary path (permissions,
another tenant, bad or NUL variables, a refused cost, mutations) is left to the ordinary path,
which charges nothing twice; and what it remembers is bounded.

The suite runs with `COMPILED_OPERATIONS=check`: each direct answer is also computed by the
ordinary executor and compared (tests/conftest.py fails the run on a mismatch).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from billing.budgets import BUDGETS_BY_PLAN, CostBudgets
from core.settings import Settings
from engine.compiler import STATS
from models.orgs import Role
from services.budgets import Budget
from tests.compiled.conftest import Q1
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.tokens.conftest import make_token

PAGED = """query Paged($slug: String!, $n: Int!) { organization(slug: $slug) {
  leads(first: $n) { nodes { name notes(first: $n) { nodes { body } } } } } }"""


async def post(api: Api, query: str, variables: dict[str, Any] | None, token: str,
               ) -> tuple[httpx.Response, int, int]:
    """The response, and how many answers were given directly and by plans meanwhile."""
    direct, answered = STATS.direct, STATS.answered
    response = await api.http.post("/graphql", json={"query": query, "variables": variables},
                                   headers={"authorization": f"Bearer {token}"})
    return response, STATS.direct - direct, STATS.answered - answered


def remaining(response: httpx.Response) -> int:
    return int(response.headers["RateLimit-Remaining"])


async def test_a_query_seen_before_is_answered_directly_and_the_same(api: Api,
                                                                      team: Team) -> None:
    token = team.people[Role.MEMBER].token
    first, direct, answered = await post(api, Q1, {"slug": "acme"}, token)
    assert (direct, answered) == (0, 1)  # the ordinary path, through the plan
    second, direct, answered = await post(api, Q1, {"slug": "acme"}, token)
    assert (direct, answered) == (1, 1)
    assert second.status_code == first.status_code == 200
    assert second.json()["data"] == first.json()["data"]
    assert list(second.json()) == list(first.json()) == ["data", "extensions"]
    assert second.json()["extensions"]["cost"]["requested"] == 441
    assert second.headers["RateLimit-Limit"] == first.headers["RateLimit-Limit"]
    assert remaining(first) - remaining(second) == 441  # charged once, as the first was
    assert second.headers["content-type"] == first.headers["content-type"]
    # A GET of the same text too.
    direct = STATS.direct
    response = await api.http.get("/graphql", params={
        "query": Q1, "variables": '{"slug": "acme"}'},
        headers={"authorization": f"Bearer {token}", "accept": "application/json"})
    assert STATS.direct == direct + 1 and response.json()["data"] == first.json()["data"]


async def test_refusals_come_from_the_ordinary_path_charged_once(
        api: Api, settings: Settings, team: Team) -> None:
    """A narrow token, a VIEWER and another org's slug, with Q1 known to the process: the plan
    abandons where the ordinary path gives errors, and the cost is taken once."""
    await post(api, Q1, {"slug": "acme"}, team.people[Role.MEMBER].token)
    narrow = (await make_token(team, ["leads:read"])).secret
    before, direct, _ = await post(api, Q1, {"slug": "acme"}, narrow)
    after, direct, answered = await post(api, Q1, {"slug": "acme"}, narrow)
    assert (direct, answered) == (0, 0)
    assert {e["extensions"]["code"] for e in after.json()["errors"]} == {"FORBIDDEN"}
    assert after.json() | {"extensions": None} == before.json() | {"extensions": None}
    assert remaining(before) - remaining(after) == 441  # not 882: the fallback spends nothing
    viewer, direct, _ = await post(api, Q1, {"slug": "acme"}, team.people[Role.VIEWER].token)
    assert direct == 1 and "errors" not in viewer.json()
    rival = await make_team(api, settings, "globex", prefix="rival.")
    other, direct, _ = await post(api, Q1, {"slug": "globex"}, team.people[Role.OWNER].token)
    assert direct == 0
    assert other.json()["data"] == {"organization": None}
    assert [e["extensions"]["code"] for e in other.json()["errors"]] == ["NOT_FOUND"]
    own, direct, _ = await post(api, Q1, {"slug": "globex"}, rival.people[Role.OWNER].token)
    assert direct == 1 and own.json()["data"]["organization"]["slug"] == "globex"


async def test_bad_variables_get_the_ordinary_errors(api: Api, team: Team) -> None:
    """Variables of the wrong type, holding NUL or missing: the answer of the ordinary path,
    the same as for a text it has never seen (its twin with a trailing blank)."""
    token = team.people[Role.MEMBER].token
    await post(api, PAGED, {"slug": "acme", "n": 2}, token)
    for variables in ({"slug": "acme", "n": "two"}, {"slug": "ac\u0000me", "n": 2},
                      {"slug": "acme"}, {"slug": 5, "n": 2}):
        response, direct, answered = await post(api, PAGED, variables, token)
        assert (direct, answered) == (0, 0), variables
        twin, _, _ = await post(api, PAGED + " ", variables, token)
        body = response.json()
        assert body["errors"] == twin.json()["errors"], variables
        assert response.status_code == twin.status_code
        assert body["extensions"]["cost"]["requested"] == \
            twin.json()["extensions"]["cost"]["requested"]
        assert "data" not in body, body  # request errors, as without a plan
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_cost_over_the_maximum_is_refused_the_same(api: Api, team: Team) -> None:
    token = team.people[Role.MEMBER].token
    await post(api, PAGED, {"slug": "acme", "n": 2}, token)
    known, direct, answered = await post(api, PAGED, {"slug": "acme", "n": 100}, token)
    assert answered == 0 and direct == 0
    unknown, _, _ = await post(api, PAGED + " ", {"slug": "acme", "n": 100}, token)
    assert known.json() == unknown.json()
    assert known.json()["errors"][0]["extensions"]["reason"] == "COST_LIMIT"
    # The org, 100 leads, 100 notes each:
    assert known.json()["errors"][0]["extensions"]["cost"] == 10_101


async def test_a_spent_budget_is_refused_the_same(api: Api, app: Any, settings: Settings,
                                                  team: Team) -> None:
    """A budget of 1,000 a minute: two Q1s (441 each) fit, the third is RATE_LIMITED with
    `Retry-After` when answered directly, as the ordinary path refuses its twin text."""
    app.state.services.cost_budgets = CostBudgets(
        settings, by_plan={plan: Budget(1000, 60) for plan in BUDGETS_BY_PLAN},
        person_by_plan={plan: Budget(1000, 60) for plan in BUDGETS_BY_PLAN},
        key_prefix=f"DIRECT_TEST_{secrets.token_hex(4)}")
    token = team.people[Role.MEMBER].token
    await post(api, Q1, {"slug": "acme"}, token)
    _, direct, _ = await post(api, Q1, {"slug": "acme"}, token)
    assert direct == 1
    refused, direct, answered = await post(api, Q1, {"slug": "acme"}, token)
    assert (direct, answered) == (0, 0)
    twin, _, _ = await post(api, Q1 + " ", {"slug": "acme"}, token)
    for response in (refused, twin):
        error = response.json()["errors"][0]["extensions"]
        assert (error["code"], error["reason"]) == ("RATE_LIMITED", "COST_BUDGET")
        assert response.headers["Retry-After"] == str(error["retryAfter"])
        assert remaining(response) == 1000 - 2 * 441
        assert "data" not in response.json()
    assert refused.json()["errors"][0]["message"].split(" until ")[0] == \
        twin.json()["errors"][0]["message"].split(" until ")[0]


async def test_mutations_never_take_it(api: Api, team: Team) -> None:
    token = team.people[Role.MEMBER].token
    mutation = ("mutation($input: CreateLeadInput!) { createLead(input: $input) "
                "{ lead { name } } }")
    variables = {"input": {"organizationId": team.org_id, "name": "Via mutation"}}
    for _ in range(2):
        response, direct, _ = await post(api, mutation, variables, token)
        assert direct == 0 and response.json()["data"]["createLead"]["lead"]["name"] == \
            "Via mutation"


async def test_what_it_remembers_stays_bounded(api: Api, app: Any, team: Team) -> None:
    token = team.people[Role.MEMBER].token
    for i in range(30):
        text = f'{{ organization(slug: "acme") {{ n{i}: name }} }}'
        for round_ in range(2):
            response, direct, _ = await post(api, text, None, token)
            assert response.json()["data"]["organization"] == {f"n{i}": "Team acme"}
            assert direct == round_  # the second time of each: directly
    assert len(app.state.graphql.direct) == 8
