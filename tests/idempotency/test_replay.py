"""A mutation sent with an `Idempotency-Key` runs once: a retry with the same key and request
replays the first response, byte for byte, with `Idempotent-Replayed: true`; another request
under the key is a CONFLICT; keys are per caller and last 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.settings import Settings
from models.idempotency import IdempotencyKey, KeyStatus
from models.leads import Lead
from models.orgs import Role
from models.tenancy import system_scope
from tests.conftest import Api
from tests.idempotency.conftest import CREATE_LEAD, create_lead, send
from tests.orgs.conftest import Team, make_team
from tests.tokens.conftest import make_token


async def leads_of(team: Team) -> list[Lead]:
    return await system_scope(team.org.id, reason="test: the org's leads").scoped(Lead).all()


async def test_a_retried_create_lead_makes_one_lead_and_replays_the_response(
        api: Api, team: Team) -> None:
    first = await create_lead(api, team, key="lead-ada-1")
    second = await create_lead(api, team, key="lead-ada-1")
    assert first.status_code == second.status_code == 200
    assert "errors" not in first.json(), first.text
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["content-type"] == first.headers["content-type"]
    [lead] = await leads_of(team)
    assert lead.name == "Ada"
    [row] = await IdempotencyKey.all()
    assert (row.key, row.status, row.response_status) == ("lead-ada-1", KeyStatus.DONE, 200)
    assert row.caller == f"user:{team.people[Role.MEMBER].user.id}"


async def test_the_same_key_with_other_variables_is_a_conflict(api: Api, team: Team) -> None:
    first = await create_lead(api, team, key="k1", name="Ada")
    other = await create_lead(api, team, key="k1", name="Grace")
    assert other.status_code == 409
    [error] = other.json()["errors"]
    assert error["extensions"] == {"code": "CONFLICT", "reason": "IDEMPOTENCY_KEY_REUSED"}
    assert "idempotent-replayed" not in other.headers
    assert [lead.name for lead in await leads_of(team)] == ["Ada"]
    # The first request's response is still what a true retry gets.
    again = await create_lead(api, team, key="k1", name="Ada")
    assert again.content == first.content


async def test_the_order_of_variables_keys_does_not_matter(api: Api, team: Team) -> None:
    await send(api, CREATE_LEAD, {"input": {"organizationId": team.org_id, "name": "Ada"}},
               key="k", token=team.people[Role.MEMBER].token)
    again = await send(api, CREATE_LEAD, {"input": {"name": "Ada", "organizationId": team.org_id}},
                       key="k", token=team.people[Role.MEMBER].token)
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await leads_of(team)) == 1


async def test_keys_are_per_caller(api: Api, team: Team) -> None:
    token = await make_token(team, ["leads:write", "leads:read"])
    responses = [await create_lead(api, team, key="shared", role=Role.MEMBER),
                 await create_lead(api, team, key="shared", role=Role.ADMIN),
                 await create_lead(api, team, key="shared", token=token.secret)]
    assert all(r.status_code == 200 and "errors" not in r.json() for r in responses)
    assert not any("idempotent-replayed" in r.headers for r in responses)
    assert len({r.json()["data"]["createLead"]["lead"]["id"] for r in responses}) == 3
    assert len(await leads_of(team)) == 3
    callers = {row.caller for row in await IdempotencyKey.all()}
    assert callers == {f"user:{team.people[Role.MEMBER].user.id}",
                       f"user:{team.people[Role.ADMIN].user.id}", f"token:{token.row.id}"}


async def test_a_key_older_than_24_hours_runs_again(api: Api, team: Team) -> None:
    first = await create_lead(api, team, key="old")
    await IdempotencyKey.filter(key="old").update(
        created_at=datetime.now(UTC) - timedelta(hours=24, seconds=1))
    second = await create_lead(api, team, key="old")
    assert "idempotent-replayed" not in second.headers
    assert second.json()["data"]["createLead"]["lead"]["id"] != \
        first.json()["data"]["createLead"]["lead"]["id"]
    assert len(await leads_of(team)) == 2
    [row] = await IdempotencyKey.all()  # the row was taken over, not duplicated
    assert row.status is KeyStatus.DONE
    assert row.created_at > datetime.now(UTC) - timedelta(minutes=1)
    # ...and the new response is what a retry now replays.
    third = await create_lead(api, team, key="old")
    assert third.content == second.content


async def test_a_validation_error_is_stored_and_replayed(api: Api, team: Team) -> None:
    first = await create_lead(api, team, key="bad", email="not an email")
    [error] = first.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    second = await create_lead(api, team, key="bad", email="not an email")
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    [row] = await IdempotencyKey.all()
    assert row.status is KeyStatus.DONE
    assert await leads_of(team) == []


async def test_a_request_still_running_answers_in_progress(api: Api, team: Team) -> None:
    first = await create_lead(api, team, key="busy")
    # As if the first request were still running: its claim is fresh and not done.
    await IdempotencyKey.filter(key="busy").update(status=KeyStatus.IN_PROGRESS,
                                                   created_at=datetime.now(UTC))
    busy = await create_lead(api, team, key="busy")
    assert busy.status_code == 409
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["errors"][0]["extensions"] == {
        "code": "CONFLICT", "reason": "IDEMPOTENCY_IN_PROGRESS"}
    assert len(await leads_of(team)) == 1
    # A claim abandoned for over a minute (its process died) is taken over and runs.
    await IdempotencyKey.filter(key="busy").update(
        created_at=datetime.now(UTC) - timedelta(minutes=2))
    taken = await create_lead(api, team, key="busy")
    assert taken.status_code == 200 and "idempotent-replayed" not in taken.headers
    assert taken.content != first.content
    assert len(await leads_of(team)) == 2


async def test_another_tenants_lead_is_not_found_and_replayed_as_such(
        api: Api, team: Team, settings: Settings) -> None:
    """The key changes nothing about access: the refusal is stored like any client error."""
    update = "mutation($input: UpdateLeadInput!) { updateLead(input: $input) { lead { id } } }"
    lead = (await create_lead(api, team, key=None)).json()["data"]["createLead"]["lead"]["id"]
    rival = await make_team(api, settings, "globex", prefix="rival.")
    variables = {"input": {"id": lead, "name": "Mine"}}
    first = await send(api, update, variables, key="u", token=rival.people[Role.OWNER].token)
    assert first.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    second = await send(api, update, variables, key="u", token=rival.people[Role.OWNER].token)
    assert second.content == first.content and second.headers["idempotent-replayed"] == "true"
    assert [lead.name for lead in await leads_of(team)] == ["Ada"]


async def test_a_request_error_is_replayed_with_its_status_and_media_type(
        api: Api, team: Team) -> None:
    """With `Accept: application/graphql-response+json` a GraphQL validation error is a 400: the
    replay has the same status, media type and body."""
    document = "mutation($input: CreateLeadInput!) { createLead(input: $input) { nope } }"
    variables = {"input": {"organizationId": team.org_id, "name": "Ada"}}
    accept = {"accept": "application/graphql-response+json"}
    token = team.people[Role.MEMBER].token
    first = await send(api, document, variables, key="v", token=token, headers=accept)
    second = await send(api, document, variables, key="v", token=token, headers=accept)
    assert first.status_code == second.status_code == 400
    assert first.headers["content-type"].startswith("application/graphql-response+json")
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.content == first.content and "data" not in second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await leads_of(team) == []
