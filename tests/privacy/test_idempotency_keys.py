"""Idempotency keys hold stored responses (a created lead's name and email): they go with the
account that made them, with the API tokens and OAuth grants of a deleted organization, with an
erased data subject, and after 24 hours with the retention sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.retention import IDEMPOTENCY_KEYS, apply_retention
from models.idempotency import IdempotencyKey
from models.jobs import ScheduledWork, WorkKind
from models.orgs import Role
from tests.conftest import STRONG_PASSWORD, Api
from tests.idempotency.conftest import CREATE_LEAD, create_lead, send
from tests.orgs.conftest import Team
from tests.privacy.conftest import pass_grace_period, run_due_work, services_of
from tests.tokens.conftest import make_token

DELETE_ACCOUNT = """mutation($p: String!) { deleteAccount(input: {password: $p}) {
  scheduledDeletion { id } } }"""
DELETE_ORG = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    id } } }"""
ERASE = """mutation($org: ID!, $email: String!) {
  eraseDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectErasure {
    leadsDeleted } } }"""


async def callers() -> set[str]:
    return {row.caller for row in await IdempotencyKey.all()}


async def test_deleting_an_account_deletes_its_keys_and_its_tokens_keys(
        api: Api, app: Any, team: Team) -> None:
    admin = team.people[Role.ADMIN]
    admins = await make_token(team, ["leads:write"], creator=Role.ADMIN)
    owners = await make_token(team, ["leads:write"], creator=Role.OWNER)
    for token in (admin.token, admins.secret, owners.secret):
        response = await create_lead(api, team, key="k", token=token, email="lena@example.com")
        assert "errors" not in response.json(), response.text
    assert len(await callers()) == 3
    body = await api.gql(DELETE_ACCOUNT, {"p": STRONG_PASSWORD}, token=admin.token)
    assert "errors" not in body, body
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await pass_grace_period(work.id)
    await run_due_work(app)
    assert await callers() == {f"token:{owners.row.id}"}


async def test_deleting_an_organization_deletes_its_tokens_keys(
        api: Api, app: Any, team: Team) -> None:
    token = await make_token(team, ["leads:write"])
    await create_lead(api, team, key="k", token=token.secret)
    await create_lead(api, team, key="k", role=Role.OWNER)
    owner = team.people[Role.OWNER]
    body = await api.gql(DELETE_ORG, {"id": team.org_id, "slug": "acme"}, token=owner.token)
    assert "errors" not in body, body
    (work,) = await ScheduledWork.filter(kind=WorkKind.ORG_DELETION)
    await pass_grace_period(work.id)
    await run_due_work(app)
    # The owner's own key stays until its 24 hours are over (the default grace period is 14
    # days, so in practice none is left by then).
    assert await callers() == {f"user:{owner.user.id}"}


async def test_erasing_a_data_subject_deletes_the_responses_that_name_them(
        api: Api, team: Team) -> None:
    await create_lead(api, team, key="lena", email="Lena@Example.com", name="Lena")
    await create_lead(api, team, key="other", email="other@example.com", name="Otto")
    update = "mutation($i: UpdateLeadInput!) { updateLead(input: $i) { lead { id name } } }"
    [row] = await IdempotencyKey.filter(key="lena")
    lead_id = (row.response_body or "").split('"id":"')[1].split('"')[0]
    # A later response naming the lead by its id only (no email) goes too.
    renamed = await send(api, update, {"i": {"id": lead_id, "name": "Lena B"}}, key="rename",
                         token=team.people[Role.MEMBER].token)
    assert "errors" not in renamed.json(), renamed.text
    body = await api.gql(ERASE, {"org": team.org_id, "email": "lena@example.com"},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["eraseDataSubject"]["dataSubjectErasure"]["leadsDeleted"] == 1
    assert {row.key for row in await IdempotencyKey.all()} == {"other"}
    for row in await IdempotencyKey.all():
        assert "lena" not in (row.response_body or "").lower()
    # A retry under the forgotten key runs again (nothing replays the person's data).
    again = await send(api, CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                   "name": "Lena", "email": "lena@example.com"}},
                       key="lena", token=team.people[Role.MEMBER].token)
    assert "idempotent-replayed" not in again.headers


async def test_the_sweep_deletes_keys_older_than_24_hours(api: Api, app: Any, team: Team) -> None:
    await create_lead(api, team, key="old")
    await create_lead(api, team, key="new", name="New")
    await IdempotencyKey.filter(key="old").update(
        created_at=datetime.now(UTC) - IDEMPOTENCY_KEYS - timedelta(seconds=1))
    report = await apply_retention(services_of(app))
    assert report.deleted["idempotency_keys"] == 1
    assert {row.key for row in await IdempotencyKey.all()} == {"new"}
