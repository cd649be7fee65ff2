"""What a key cannot be used with: bad keys, several mutation fields, anonymous callers; what it is
ignored on (queries); and the server errors after which the claim is given up, not stored."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from tortoise import connections

from core.settings import Settings
from models.idempotency import IdempotencyKey
from models.leads import Lead
from models.orgs import Role
from models.tenancy import system_scope
from server import create_app
from tests.conftest import Api
from tests.idempotency.conftest import CREATE_LEAD, create_lead, send
from tests.orgs.conftest import Team


async def leads_of(team: Team) -> list[Lead]:
    return await system_scope(team.org.id, reason="test: the org's leads").scoped(Lead).all()


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"caf\xc3\xa9", b"tab\there", b"del\x7f"])
async def test_a_key_outside_1_to_255_printable_ascii_is_refused(
        api: Api, team: Team, key: bytes) -> None:
    response = await create_lead(api, team, key=key)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "IDEMPOTENCY_KEY_INVALID"}
    assert "1 to 255 printable ASCII" in error["message"]
    assert await leads_of(team) == []
    assert await IdempotencyKey.all().count() == 0


async def test_the_longest_key_and_every_printable_character_are_accepted(
        api: Api, team: Team) -> None:
    printable = "".join(chr(c) for c in range(0x21, 0x7F))
    for key in ("k" * 255, printable, "a b"):
        response = await create_lead(api, team, key=key, name=f"Lead {len(key)}")
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert {row.key for row in await IdempotencyKey.all()} == {"k" * 255, printable, "a b"}


async def test_a_key_on_a_query_is_ignored(api: Api, team: Team) -> None:
    query = "{ me { id } }"
    token = team.people[Role.MEMBER].token
    first = await send(api, query, key="q", token=token)
    second = await send(api, query, key="q", token=token)
    assert first.status_code == second.status_code == 200
    assert first.json()["data"]["me"]["id"]
    assert "idempotent-replayed" not in second.headers
    assert await IdempotencyKey.all().count() == 0


async def test_a_key_on_several_mutation_fields_is_refused(api: Api, team: Team) -> None:
    two = """mutation($a: CreateLeadInput!, $b: CreateLeadInput!) {
      a: createLead(input: $a) { lead { id } } b: createLead(input: $b) { lead { id } } }"""
    lead = {"organizationId": team.org_id, "name": "Ada"}
    response = await send(api, two, {"a": lead, "b": lead}, key="two",
                          token=team.people[Role.MEMBER].token)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT", "reason": "IDEMPOTENCY_KEY_MULTIPLE_FIELDS"}
    spread = """mutation($a: CreateLeadInput!) { ...M }
      fragment M on Mutation { createLead(input: $a) { lead { id } } }"""
    response = await send(api, spread, {"a": lead}, key="spread",
                          token=team.people[Role.MEMBER].token)
    assert response.status_code == 400
    assert await leads_of(team) == []
    assert await IdempotencyKey.all().count() == 0
    # Without the key the same document runs as before.
    response = await send(api, two, {"a": lead, "b": lead}, token=team.people[Role.MEMBER].token)
    assert "errors" not in response.json()
    assert len(await leads_of(team)) == 2


async def test_the_operation_name_picks_the_operation(api: Api, team: Team) -> None:
    document = CREATE_LEAD.replace("mutation(", "mutation Make(") + " query Read { me { id } }"
    variables = {"input": {"organizationId": team.org_id, "name": "Ada"}}
    token = team.people[Role.MEMBER].token
    response = await api.http.post("/graphql", json={
        "query": document, "variables": variables, "operationName": "Make"},
        headers={"idempotency-key": "named", "authorization": f"Bearer {token}"})
    assert "errors" not in response.json(), response.text
    again = await api.http.post("/graphql", json={
        "query": document, "variables": variables, "operationName": "Make"},
        headers={"idempotency-key": "named", "authorization": f"Bearer {token}"})
    assert again.headers["idempotent-replayed"] == "true"
    read = await api.http.post("/graphql", json={
        "query": document, "variables": variables, "operationName": "Read"},
        headers={"idempotency-key": "named", "authorization": f"Bearer {token}"})
    assert read.json()["data"]["me"]["id"]  # a query under the key: ignored, it runs
    assert len(await leads_of(team)) == 1


async def test_an_anonymous_caller_cannot_use_a_key(api: Api) -> None:
    log_in = ("mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }")
    response = await send(api, log_in, {"input": {"email": "a@example.com", "password": "x"}},
                          key="anon")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT", "reason": "IDEMPOTENCY_KEY_NEEDS_CALLER"}
    bad = await send(api, CREATE_LEAD, {"input": {"organizationId": "x", "name": "A"}},
                     key="anon", token="not-a-token")
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await IdempotencyKey.all().count() == 0


async def test_an_internal_error_is_not_stored_and_a_retry_runs(api: Api, team: Team) -> None:
    db = connections.get("default")
    await db.execute_script("ALTER TABLE leads RENAME TO leads_away")
    try:  # a real driver error in the mutation, after the key was claimed
        failed = await create_lead(api, team, key="flaky")
    finally:
        await db.execute_script("ALTER TABLE leads_away RENAME TO leads")
    assert failed.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert await IdempotencyKey.all().count() == 0  # the claim was given up
    retried = await create_lead(api, team, key="flaky")
    assert "errors" not in retried.json(), retried.text
    assert "idempotent-replayed" not in retried.headers
    assert len(await leads_of(team)) == 1
    again = await create_lead(api, team, key="flaky")
    assert again.content == retried.content


async def test_a_timeout_is_not_stored(api: Api, team: Team, settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, execution_timeout=0.000001),
                     manage_database=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        timed_out = await create_lead(Api(client), team, key="slow")
    assert timed_out.json()["errors"][0]["extensions"]["reason"] == "TIMEOUT"
    assert await IdempotencyKey.all().count() == 0
