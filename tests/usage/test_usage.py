"""`organization.usage`: the daily aggregates after real requests by a person, an API token and
a partner app; who may read them; the range's bounds; and what the request path costs."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

import httpx
from strawberry import relay

from models.orgs import Role
from models.tenancy import system_scope
from models.usage import MAX_OPERATIONS_PER_DAY, ClientKind, UsageDay, UsageOperationDay
from server import create_app
from services.usage import UsageRecorder
from tests.conftest import Api, count_sql, error_code, errors_of
from tests.oauth.conftest import code_for, exchange, pkce, register
from tests.orgs.conftest import Team, signed_in
from tests.tokens.conftest import make_token
from tests.usage.conftest import USAGE, fresh_counts

LEADS = """query Leads($slug: String!) {
  organization(slug: $slug) { leads(first: 5) { edges { node { id } } } } }"""
ACTIVITY = """query Activity($slug: String!) {
  organization(slug: $slug) { activity(first: 5) { edges { node { id } } } } }"""


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


async def usage(api: Api, team: Team, token: str, start: str | None = None,
                end: str | None = None) -> dict[str, Any]:
    return await api.gql(USAGE, {"slug": team.slug, "from": start or today(),
                                 "to": end or today()}, token=token)


async def partner_token(api: Api, http: httpx.AsyncClient, settings: Any, team: Team) -> str:
    """A partner app's access token for the team, through the OAuth dance over HTTP."""
    partner = await signed_in(settings, "dev@partner.example.com", "Paula Partner")
    app = await register(api, partner, name="Zapier")
    challenge = pkce()
    code = await code_for(api, app, team, challenge)
    response = await exchange(http, app, code, challenge.verifier)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_requests_are_counted_per_day_kind_and_client(
        api: Api, http: httpx.AsyncClient, app: Any, settings: Any, team: Team) -> None:
    token = await make_token(team, ["leads:read"], name="Nightly sync")
    app_token = await partner_token(api, http, settings, team)
    await fresh_counts(app)
    admin = team.people[Role.ADMIN].token

    for _ in range(2):
        assert "errors" not in await api.gql(LEADS, {"slug": team.slug}, token=admin)
    assert "errors" not in await api.gql(LEADS, {"slug": team.slug}, token=token.secret)
    # Outside the token's scopes: FORBIDDEN, counted as an error of the token.
    assert error_code(await api.gql(ACTIVITY, {"slug": team.slug},
                                    token=token.secret)) == "FORBIDDEN"
    assert "errors" not in await api.gql(LEADS, {"slug": team.slug}, token=app_token)
    await app.state.services.usage.flush()

    body = await usage(api, team, admin)
    assert "errors" not in body, body
    report = body["data"]["organization"]["usage"]
    assert report["from"] == report["to"] == today()
    [day] = report["days"]
    assert (day["requests"], day["errors"]) == (5, 1)
    assert day["cost"] > 0
    kinds = {k["kind"]: (k["requests"], k["errors"]) for k in day["byKind"]}
    assert kinds == {"PERSON": (2, 0), "API_TOKEN": (2, 1), "PARTNER_APP": (1, 0)}
    clients = {c["kind"]: c for c in report["clients"]}
    assert clients["PERSON"]["clientId"] is None and clients["PERSON"]["name"] is None
    assert clients["API_TOKEN"]["name"] == "Nightly sync"
    assert clients["API_TOKEN"]["clientId"] == str(relay.GlobalID("ApiToken", str(token.row.id)))
    assert (clients["API_TOKEN"]["requests"], clients["API_TOKEN"]["errors"]) == (2, 1)
    assert clients["PARTNER_APP"]["name"] == "Zapier"
    operations = {o["name"]: (o["count"], o["errors"]) for o in report["topOperations"]}
    assert operations == {"Leads": (4, 0), "Activity": (1, 1)}


async def test_counts_from_several_flushes_add_up(api: Api, app: Any, team: Team) -> None:
    await fresh_counts(app)
    admin = team.people[Role.ADMIN].token
    for _ in range(3):
        await api.gql(LEADS, {"slug": team.slug}, token=admin)
        await app.state.services.usage.flush()
    rows = await system_scope(team.org.id, reason="test").scoped(UsageDay).all()
    assert [(r.client_kind, r.requests) for r in rows] == [("person", 3)]


async def test_the_request_path_runs_no_statement_for_usage(
        api: Api, app: Any, team: Team) -> None:
    await fresh_counts(app)
    admin = team.people[Role.ADMIN].token
    await api.gql(LEADS, {"slug": team.slug}, token=admin)  # warm the caches
    await app.state.services.usage.flush()  # the day's rows exist from here on
    with count_sql() as first:
        await api.gql(LEADS, {"slug": team.slug}, token=admin)
    with count_sql() as many:
        for _ in range(5):
            await api.gql(LEADS, {"slug": team.slug}, token=admin)
    assert many.count == 5 * first.count  # no request pays for the counting
    assert not [s for s in first.statements + many.statements if "usage" in s]
    with count_sql() as flush:
        written = await app.state.services.usage.flush()
    # Six requests, two buckets (the day's person row, the `Leads` row): one update each.
    assert written == 2
    assert flush.count == 2


async def test_operation_names_are_bounded_per_org_and_day(
        api: Api, app: Any, team: Team) -> None:
    await fresh_counts(app)
    admin = team.people[Role.ADMIN].token
    for n in range(MAX_OPERATIONS_PER_DAY + 5):
        query = LEADS.replace("query Leads", f"query Op{n}")
        response = await api.http.post(
            "/graphql", json={"query": query, "variables": {"slug": team.slug},
                              "operationName": f"Op{n}"},
            headers={"authorization": f"Bearer {admin}"})
        assert "errors" not in response.json()
    await app.state.services.usage.flush()
    rows = await system_scope(team.org.id, reason="test").scoped(UsageOperationDay).all()
    assert len(rows) == MAX_OPERATIONS_PER_DAY + 1
    assert {r.operation: r.requests for r in rows}["other"] == 5


async def test_members_and_other_orgs_cannot_read_usage(
        api: Api, app: Any, team: Team, rival: Team) -> None:
    assert error_code(await usage(api, team, team.people[Role.MEMBER].token)) == "FORBIDDEN"
    assert "errors" not in await usage(api, team, team.people[Role.OWNER].token)
    body = await usage(api, team, rival.people[Role.OWNER].token)
    assert body["data"]["organization"] is None
    assert error_code(body) == "NOT_FOUND"


async def test_a_token_needs_the_usage_scope(api: Api, app: Any, team: Team) -> None:
    without = await make_token(team, ["leads:read"])
    assert error_code(await usage(api, team, without.secret)) == "FORBIDDEN"
    with_scope = await make_token(team, ["usage:read"], name="Dashboard")
    assert "errors" not in await usage(api, team, with_scope.secret)


async def test_another_orgs_usage_never_shows(api: Api, app: Any, team: Team,
                                              rival: Team) -> None:
    await fresh_counts(app)
    await api.gql(LEADS, {"slug": rival.slug}, token=rival.people[Role.OWNER].token)
    await app.state.services.usage.flush()
    report = (await usage(api, team, team.people[Role.ADMIN].token))[
        "data"]["organization"]["usage"]
    assert report["days"][0]["requests"] == 0 and report["clients"] == []


async def test_the_range_is_bounded(api: Api, app: Any, team: Team) -> None:
    admin = team.people[Role.ADMIN].token
    body = await usage(api, team, admin, "2026-01-01", "2026-04-02")  # 92 days
    assert "errors" not in body, body
    assert len(body["data"]["organization"]["usage"]["days"]) == 92
    too_long = errors_of(await usage(api, team, admin, "2026-01-01", "2026-04-03"))[0]
    assert too_long["extensions"]["code"] == "BAD_USER_INPUT"
    assert "to" in too_long["extensions"]["fields"]
    backwards = await usage(api, team, admin, "2026-02-02", "2026-02-01")
    assert error_code(backwards) == "BAD_USER_INPUT"


async def test_the_periodic_flush_and_the_last_one_at_close(
        app: Any, settings: Any, team: Team) -> None:
    """A recorder as `server.py` runs it: flushed every `USAGE_FLUSH_SECONDS`, and at close."""
    recorder = UsageRecorder(dataclasses.replace(settings, usage_flush_seconds=0.05))
    rows = system_scope(team.org.id, reason="test").scoped(UsageDay)
    await fresh_counts(app)
    recorder.start()
    try:
        recorder.record(orgs=[team.org.id], kind=ClientKind.PERSON, client_id="",
                        operation="Q1", failed=False, cost=3)
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await rows.exists():
                break
        assert await rows.values_list("requests", "cost") == [(1, 3)]
    finally:
        recorder.record(orgs=[team.org.id], kind=ClientKind.PERSON, client_id="",
                        operation="Q1", failed=True, cost=2)
        await recorder.close()
    assert await rows.values_list("requests", "errors", "cost") == [(2, 1, 5)]
    assert recorder.pending == 0


async def test_processes_flushing_the_same_bucket_add_up(app: Any, settings: Any,
                                                         team: Team) -> None:
    """Two processes' first flush of a day: one creates the row, the other adds to it (the
    unique bucket makes the loser of the race update instead)."""
    await fresh_counts(app)
    recorders = [UsageRecorder(settings) for _ in range(3)]
    for n, recorder in enumerate(recorders):
        recorder.record(orgs=[team.org.id], kind=ClientKind.API_TOKEN, client_id="t",
                        operation="Sync", failed=False, cost=n + 1)
    await asyncio.gather(*(recorder.flush() for recorder in recorders))
    scope = system_scope(team.org.id, reason="test")
    assert await scope.scoped(UsageDay).values_list("requests", "cost") == [(3, 6)]
    assert await scope.scoped(UsageOperationDay).values_list("operation", "requests") == [
        ("Sync", 3)]


async def test_shutdown_flushes_what_is_left(api: Api, app: Any, settings: Any,
                                             team: Team) -> None:
    """`server.py`'s lifespan flushes the counters when the app stops."""
    await fresh_counts(app)
    other = create_app(settings, manage_database=False)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            body = await Api(http).gql(LEADS, {"slug": team.slug},
                                       token=team.people[Role.ADMIN].token)
            assert "errors" not in body, body
        rows = system_scope(team.org.id, reason="test").scoped(UsageDay)
        assert not await rows.exists()  # counted in memory only
    assert await rows.values_list("client_kind", "requests") == [("person", 1)]
