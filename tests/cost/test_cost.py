"""Cost-based rate limits over HTTP: the cost model, the per-request maximum, budgets running out
and refilling, the headers, `extensions.cost` and `rateLimit`, and one budget shared by two app
instances through Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    get_named_type,
    is_interface_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    parse,
)

import engine.cost as cost_model
import schema as api_schema
from auth.permissions import TOKEN_SCOPES
from billing.budgets import (
    ANONYMOUS_BUDGET,
    BUDGETS_BY_PLAN,
    PERSON_BUDGET,
    PERSON_BUDGETS_BY_PLAN,
    CostBudgets,
)
from billing.plans import PLANS
from core.settings import Settings
from engine.cost import MAX_COST, MUTATION_COST, compile_cost
from models.billing import BillingInterval
from models.oauth import OAuthApp
from models.orgs import Membership, Organization, Role
from schema.list_bounds import LIST_BOUNDS
from server import create_app
from services.budgets import Budget
from tests.conftest import Api, errors_of
from tests.leads.conftest import seed_leads
from tests.orgs.conftest import make_team, signed_in
from tests.tokens.conftest import make_token, subscribe

Q1 = (Path(__file__).parents[2] / "bench" / "q1.graphql").read_text()
RATE_LIMIT = "{ rateLimit { requested remaining limit resetAt maximum } }"


def cost_of(document: str, variables: dict[str, Any] | None = None,
            operation: str | None = None) -> int:
    return compile_cost(api_schema.schema._schema, parse(document), operation, LIST_BOUNDS) \
        .evaluate(variables)


@pytest.mark.no_db
def test_the_cost_model() -> None:
    # Q1: org 1, members 20, their users 20, leads 50, owners 50, notes 50*3, authors 50*3.
    assert cost_of(Q1) == 1 + 20 + 20 + 50 + 50 + 150 + 150 == 441
    # Scalars are free; a request costs at least 1.
    assert cost_of("{ me { name } }") == 1
    assert cost_of("{ __typename }") == 1
    # A connection without first/last can return a whole page; variables and their defaults.
    leads = "query($n: Int = 7) { organization(slug: \"a\") { leads(first: $n) { nodes { name }"\
            " } } }"
    assert cost_of(leads) == 1 + 7
    assert cost_of(leads, {"n": 30}) == 1 + 30
    assert cost_of(leads, {"n": 10_000}) == 1 + 100  # capped like the page size
    assert cost_of('{ organization(slug: "a") { members { edges { node { id } } } } }') == 101
    # Fragments and inline fragments count like the fields they hold.
    fragment = """
    query { organization(slug: "a") { ...F } }
    fragment F on Organization { leads(first: 10) { nodes { ... on Lead { owner { name } } } } }
    """
    assert cost_of(fragment) == 1 + 10 + 10
    # Nesting multiplies.
    nested = """{ organization(slug: "a") { leads(first: 100) { nodes {
        notes(first: 100) { nodes { author { name } } } } } } }"""
    assert cost_of(nested) == 1 + 100 + 100 * 100 + 100 * 100
    # A mutation field costs MUTATION_COST on top of what it selects.
    assert cost_of('mutation { logOut { endedSessionId } }') == MUTATION_COST
    # Its payload is a wrapper, free like `edges`: what it holds costs as usual.
    created = 'mutation { createLead(input: {organizationId: "x", name: "y"}) { lead { owner { ' \
              'name } } } }'
    assert cost_of(created) == MUTATION_COST + 1 + 1
    # The operation asked for, in a document with several.
    two = "query A { scopes { name } } query B { organization(slug: \"a\") { name } }"
    assert cost_of(two, operation="B") == 1


def _plain_lists() -> set[str]:
    """Every output field of the schema whose type is a list, but a connection's own
    (`nodes`, `edges`: the connection's page size prices them), as `Type.field`."""
    found = set()
    for name, type_ in api_schema.schema._schema.type_map.items():
        if name.startswith("__") or not (is_object_type(type_) or is_interface_type(type_)):
            continue
        if name.endswith(("Connection", "Edge")):
            continue
        for field_name, definition in type_.fields.items():
            field_type = definition.type
            if is_non_null_type(field_type):
                field_type = field_type.of_type
            if is_list_type(field_type):
                found.add(f"{name}.{field_name}")
            else:
                # A connection is priced by its page size, so it must take one.
                assert not get_named_type(field_type).name.endswith("Connection") or \
                    {"first", "last"} & set(definition.args), f"{name}.{field_name}"
    return found


@pytest.mark.no_db
def test_every_plain_list_has_a_declared_bound() -> None:
    """A list that is not a connection is priced by its declared maximum length
    (`LIST_BOUNDS`): one added without a bound fails here, and so does a stale bound."""
    bounds = LIST_BOUNDS
    lists = _plain_lists()
    assert {"Me.consents", "Lead.tags", "Query.scopes", "Query.plans"} <= lists
    # What a client pages through is a connection, priced by its page size instead.
    assert not {"Me.memberships", "Me.dataExports", "Me.oauthApps"} & lists
    assert sorted(lists - set(bounds)) == [], "plain lists without a bound in LIST_BOUNDS"
    assert sorted(set(bounds) - lists) == [], "LIST_BOUNDS names fields that are not lists"
    assert all(isinstance(b, int) and 0 < b <= cost_model.DEFAULT_PAGE for b in bounds.values())


@pytest.mark.no_db
def test_plain_lists_are_priced_by_their_bound() -> None:
    bounds = LIST_BOUNDS
    identities = bounds["Me.linkedIdentities"]
    assert identities == 2
    assert cost_of("{ me { linkedIdentities { provider } } }") == 1 + identities
    # A connection costs its page (the cap, 100, without `first`), and multiplies what it holds:
    # each membership's organization, and each of its leads, is priced per membership.
    query = ("{ me { memberships { nodes { organization { leads(first: 3) { nodes { id } } } } } "
             "} }")
    assert cost_of(query) == 1 + 100 + 100 + 100 * 3 == 501
    assert cost_of(query.replace("memberships", "memberships(first: 10)")) == 51
    # Lists of scalars are bounded too, and free like every scalar.
    assert cost_of("{ me { memberships { nodes { organization { viewerPermissions } } } } }") \
        == 201
    assert cost_of('{ organization(slug: "a") { leads(first: 50) { nodes { tags } } } }') == 51
    # Catalogs cost their length; nested lists multiply.
    assert cost_of("{ scopes { name } }") == len(TOKEN_SCOPES)
    assert cost_of("{ plans { name prices { interval } } }") == \
        len(PLANS) + len(PLANS) * len(BillingInterval)
    # Q1 has no plain list: still 441.
    assert cost_of(Q1) == 441


MY_LEADS = """{ me { memberships { nodes { organization { slug leads(first: 3) { nodes { id } } }
} } } }"""


async def test_the_price_of_memberships_bounds_what_they_return(
        api: Api, settings: Settings) -> None:
    """A person in 3 organizations with 3, 3 and 1 leads: 3 organizations and 7 leads come
    back, and the price covers them (it priced them as one organization and 3 leads)."""
    person = await signed_in(settings, "ada@example.com", "Ada Lovelace")
    for slug, count in (("acme", 3), ("globex", 5), ("initech", 1)):
        org = await Organization.create(name=slug.title(), slug=slug)
        await Membership.create(organization=org, user=person.user, role=Role.OWNER)
        await seed_leads(org, count)
    body = await api.gql(MY_LEADS, token=person.token)
    assert "errors" not in body, body
    organizations = [m["organization"] for m in body["data"]["me"]["memberships"]["nodes"]]
    leads = sum(len(org["leads"]["nodes"]) for org in organizations)
    assert (len(organizations), leads) == (3, 7)
    requested = api.last_cost["requested"]  # type: ignore[index]
    assert requested >= 1 + len(organizations) + len(organizations) + 3 * len(organizations)
    assert requested == cost_of(MY_LEADS) == 501


MY_ORGS = """query($after: String) { me { memberships(after: $after) {
  pageInfo { hasNextPage endCursor } nodes { organization { slug } } } } }"""


async def test_me_memberships_page_at_the_cap_the_price_assumes(api: Api,
                                                                settings: Settings) -> None:
    """A page holds the oldest 100 memberships, no more (the price assumes 100); the 101st is
    on the next page."""
    person = await signed_in(settings, "ada@example.com", "Ada Lovelace")
    for i in range(101):
        org = await Organization.create(name=f"Org {i}", slug=f"org-{i:03d}")
        await Membership.create(organization=org, user=person.user, role=Role.VIEWER)
    page = (await api.gql(MY_ORGS, token=person.token))["data"]["me"]["memberships"]
    slugs = [m["organization"]["slug"] for m in page["nodes"]]
    assert slugs == [f"org-{i:03d}" for i in range(100)]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await api.gql(MY_ORGS, {"after": page["pageInfo"]["endCursor"]},
                          token=person.token))["data"]["me"]["memberships"]
    assert [m["organization"]["slug"] for m in rest["nodes"]] == ["org-100"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_me_oauth_apps_page_newest_first(api: Api, settings: Settings) -> None:
    """25 apps a person (creating refuses more); should a race have let one more in, it is
    listed too, and pages like any connection."""
    person = await signed_in(settings, "ada@example.com", "Ada Lovelace")
    for i in range(26):
        app = await OAuthApp.create(owner=person.user, name=f"App {i}", client_id=f"client-{i}",
                                    client_secret_hash="x" * 64, secret_prefix="rlk_cs_",
                                    redirect_uris=["https://example.com/cb"],
                                    scopes=["leads:read"])
        await OAuthApp.filter(id=app.id).update(
            created_at=datetime(2026, 1, 1, 0, i, tzinfo=UTC))
    body = await api.gql("{ me { oauthApps(first: 25) { totalCount nodes { name } } } }",
                         token=person.token)
    apps = body["data"]["me"]["oauthApps"]
    assert [a["name"] for a in apps["nodes"]] == [f"App {i}" for i in range(25, 0, -1)]
    assert apps["totalCount"] == 26
    body = await api.gql("{ me { oauthApps(last: 1) { nodes { name } } } }", token=person.token)
    assert body["data"]["me"]["oauthApps"]["nodes"] == [{"name": "App 0"}]


def own_prefix() -> str:
    """Redis keys of this test alone: other test runs sharing the Redis reset `LIMITS:*`."""
    return f"LIMITS_TEST_{secrets.token_hex(4)}"


@pytest.fixture
def budgets(app: Any, settings: Settings) -> CostBudgets:
    """Small budgets and a 2-second window, so tests can spend them and see them refill."""
    small = CostBudgets(settings, by_plan={plan: Budget(500, 2) for plan in BUDGETS_BY_PLAN},
                        person_by_plan={plan: Budget(500, 2) for plan in BUDGETS_BY_PLAN},
                        anonymous=Budget(3, 2), key_prefix=own_prefix())
    app.state.services.cost_budgets = small
    return small


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
               token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers=headers)
    assert response.status_code == 200, response.text
    return response


def header_numbers(response: httpx.Response) -> tuple[int, int, int]:
    return (int(response.headers["RateLimit-Limit"]),
            int(response.headers["RateLimit-Remaining"]),
            int(response.headers["RateLimit-Reset"]))


async def test_q1_reports_its_cost_in_headers_extensions_and_rate_limit(
        api: Api, http: httpx.AsyncClient, settings: Settings) -> None:
    team = await make_team(api, settings, "acme")
    token = team.people[Role.MEMBER].token
    response = await post(http, Q1, {"slug": team.slug}, token)
    body = response.json()
    assert "errors" not in body, body
    cost = body["extensions"]["cost"]
    limit = PERSON_BUDGET.points
    assert cost["requested"] == 441 and cost["limit"] == limit
    assert cost["remaining"] == limit - 441
    reset_at = datetime.fromisoformat(cost["resetAt"])
    assert header_numbers(response)[:2] == (limit, limit - 441)
    assert 3590 <= header_numbers(response)[2] <= 3600
    # `rateLimit` answers the same, after its own cost of 1.
    response = await post(http, RATE_LIMIT, token=token)
    answer = response.json()["data"]["rateLimit"]
    assert answer == {"requested": 1, "remaining": limit - 442, "limit": limit,
                      "resetAt": reset_at.isoformat(), "maximum": MAX_COST}
    assert response.json()["extensions"]["cost"]["remaining"] == limit - 442
    assert header_numbers(response)[1] == limit - 442


async def test_a_query_over_the_maximum_is_refused_before_it_runs(
        api: Api, http: httpx.AsyncClient, settings: Settings) -> None:
    team = await make_team(api, settings, "acme")
    token = team.people[Role.OWNER].token
    before = (await post(http, RATE_LIMIT, token=token)).json()["data"]["rateLimit"]
    nested = """query($slug: String!) { organization(slug: $slug) { leads(first: 100) { nodes {
        notes(first: 100) { nodes { author { name } } } } } } }"""
    response = await post(http, nested, {"slug": team.slug}, token)
    body = response.json()
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "COST_LIMIT",
                                   "cost": 20_101, "maximum": MAX_COST}
    assert "data" not in body  # refused before execution: a request error
    # Nothing was spent.
    assert body["extensions"]["cost"]["requested"] == 20_101
    assert body["extensions"]["cost"]["remaining"] == before["remaining"]
    assert header_numbers(response)[1] == before["remaining"]


async def test_budgets_run_out_and_refill(api: Api, http: httpx.AsyncClient, settings: Settings,
                                          budgets: CostBudgets) -> None:
    team = await make_team(api, settings, "acme")
    token = team.people[Role.VIEWER].token
    query = "query($slug: String!) { organization(slug: $slug) { members(first: 99) " \
            "{ nodes { role } } } }"  # costs 100
    for n in range(5):
        body = (await post(http, query, {"slug": team.slug}, token)).json()
        assert "errors" not in body, body
        assert body["extensions"]["cost"]["remaining"] == 500 - 100 * (n + 1)
    response = await post(http, query, {"slug": team.slug}, token)
    body = response.json()
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["reason"] == "COST_BUDGET"
    assert 1 <= error["extensions"]["retryAfter"] <= 2
    assert response.headers["Retry-After"] == str(error["extensions"]["retryAfter"])
    assert header_numbers(response)[:2] == (500, 0)
    # A cheaper query still fits nothing; the refused one took nothing.
    assert (await post(http, RATE_LIMIT, token=token)).json()["errors"][0]["extensions"][
        "code"] == "RATE_LIMITED"
    await asyncio.sleep(error["extensions"]["retryAfter"] + 0.2)
    body = (await post(http, query, {"slug": team.slug}, token)).json()
    assert "errors" not in body, body
    assert body["extensions"]["cost"]["remaining"] == 400


async def test_each_caller_has_its_own_budget(api: Api, http: httpx.AsyncClient,
                                              settings: Settings, budgets: CostBudgets) -> None:
    team = await make_team(api, settings, "acme")
    await subscribe(team.org)
    token = await make_token(team, ["org:read"], creator=Role.OWNER)
    admin = team.people[Role.ADMIN].token  # made without HTTP: nothing spent yet
    # Anonymous callers spend their IP's budget (3 here), at least 1 a request.
    for remaining in (2, 1, 0):
        body = (await post(http, "{ __typename }")).json()
        assert body["extensions"]["cost"]["remaining"] == remaining
    assert errors_of((await post(http, "{ __typename }")).json())[0]["extensions"][
        "code"] == "RATE_LIMITED"
    # The person and their token each have a budget of their own.
    person = (await post(http, RATE_LIMIT, token=admin)).json()["data"]["rateLimit"]
    machine = (await post(http, RATE_LIMIT, token=token.secret)).json()["data"]["rateLimit"]
    assert person["remaining"] == machine["remaining"] == 499


async def test_the_budget_follows_the_plan(api: Api, http: httpx.AsyncClient,
                                           settings: Settings) -> None:
    from models.billing import Plan
    team = await make_team(api, settings, "acme")
    token = await make_token(team, ["org:read"])
    free = (await post(http, RATE_LIMIT, token=token.secret)).json()["data"]["rateLimit"]
    assert free["limit"] == BUDGETS_BY_PLAN[Plan.FREE].points
    rich = await make_team(api, settings, "globex", prefix="rival.")
    await subscribe(rich.org, Plan.BUSINESS)
    rich_token = await make_token(rich, ["org:read"])
    business = (await post(http, RATE_LIMIT, token=rich_token.secret)).json()["data"]
    assert business["rateLimit"]["limit"] == BUDGETS_BY_PLAN[Plan.BUSINESS].points
    # A person's budget follows the best plan among their organizations.
    for person, plan in ((team.people[Role.VIEWER], Plan.FREE),
                         (rich.people[Role.VIEWER], Plan.BUSINESS)):
        answer = (await post(http, RATE_LIMIT, token=person.token)).json()
        assert answer["data"]["rateLimit"]["limit"] == PERSON_BUDGETS_BY_PLAN[plan].points
    assert PERSON_BUDGETS_BY_PLAN[Plan.FREE] == PERSON_BUDGET
    anonymous = (await post(http, RATE_LIMIT)).json()["data"]["rateLimit"]
    assert anonymous["limit"] == ANONYMOUS_BUDGET.points


async def test_requests_refused_before_execution_still_carry_the_headers(
        http: httpx.AsyncClient, budgets: CostBudgets) -> None:
    response = await post(http, "{ nope }")
    body = response.json()
    assert errors_of(body)[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert header_numbers(response)[:2] == (3, 3)  # told, not charged
    assert body["extensions"]["cost"] == {**body["extensions"]["cost"], "requested": 0,
                                          "remaining": 3}


@pytest.fixture
async def second_app(settings: Settings) -> AsyncIterator[Any]:
    if not settings.redis_url:
        pytest.skip("REDIS_URL is not set: budgets shared through Redis are tested in the "
                    "PostgreSQL leg (.ci/run sets it)")
    application = create_app(settings, manage_database=False)
    async with application.router.lifespan_context(application):
        yield application


def share_prefix(settings: Settings, *apps: Any) -> None:
    """Budgets of every app under one key prefix of this test's own."""
    prefix = own_prefix()
    for application in apps:
        application.state.services.cost_budgets = CostBudgets(settings, key_prefix=prefix)


async def test_two_app_instances_share_one_budget_through_redis(
        api: Api, http: httpx.AsyncClient, settings: Settings, app: Any,
        second_app: Any) -> None:
    assert os.environ.get("REDIS_URL")
    share_prefix(settings, app, second_app)
    team = await make_team(api, settings, "acme")
    token = team.people[Role.MEMBER].token
    transport = httpx.ASGITransport(app=second_app, client=("198.51.100.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        first = (await post(http, Q1, {"slug": team.slug}, token)).json()["extensions"]["cost"]
        second = (await post(other, Q1, {"slug": team.slug}, token)).json()["extensions"]["cost"]
        third = (await post(http, Q1, {"slug": team.slug}, token)).json()["extensions"]["cost"]
    assert second["remaining"] == first["remaining"] - 441
    assert third["remaining"] == second["remaining"] - 441
    # One window: Redis reports its expiry in whole seconds (TTL), so a request that crosses a
    # second's boundary may read the same end one second apart.
    ends = [datetime.fromisoformat(c["resetAt"]) for c in (first, second, third)]
    assert max(ends) - min(ends) <= timedelta(seconds=1), ends


@pytest.mark.no_db
def test_cost_budget_scale_multiplies_every_budget() -> None:
    settings = Settings.from_env({"COST_BUDGET_SCALE": "1000"})
    budgets = CostBudgets(settings)
    assert {plan: b.points for plan, b in budgets.person_by_plan.items()} == {
        plan: b.points * 1000 for plan, b in PERSON_BUDGETS_BY_PLAN.items()}
    assert budgets.anonymous.points == ANONYMOUS_BUDGET.points * 1000
    assert {plan: b.points for plan, b in budgets.by_plan.items()} == {
        plan: b.points * 1000 for plan, b in BUDGETS_BY_PLAN.items()}
    assert CostBudgets(Settings.from_env({})).person_by_plan == PERSON_BUDGETS_BY_PLAN
