"""updateLead (partial), assignLead and deleteLead: who may, what changes, and the activity
events written with each change (field names, never the lead's personal data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from models.leads import Lead, LeadStatus, LeadTag, Note
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import (
    ASSIGN_LEAD,
    DELETE_LEAD,
    UPDATE_LEAD,
    create_lead,
    db_id,
    events,
    table_state,
    token,
)
from tests.orgs.conftest import Team

FULL = {"name": "Grace Hopper", "email": "grace@example.com", "phone": "+1 415 555 2671",
        "company": "Navy", "title": "Admiral", "status": "CONTACTED", "tags": ["vip", "cobol"],
        "address": {"line1": "1 Main St", "city": "Arlington", "country": "US"}}


async def update(api: Api, team: Team, lead_id: str, role: Role = Role.MEMBER,
                 **fields: Any) -> dict[str, Any]:
    return await api.gql(UPDATE_LEAD, {"input": {"id": lead_id, **fields}},
                         token=token(team, role))


async def the_lead(team: Team, lead_id: str) -> Lead:
    return await Lead._scoped(team.org.id).get(id=db_id(lead_id))


async def test_only_the_given_fields_change(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    body = await update(api, team, lead["id"], company="  Remington Rand ")
    assert "errors" not in body, body
    updated = body["data"]["updateLead"]["lead"]
    assert updated["company"] == "Remington Rand"
    unchanged = {k: v for k, v in lead.items() if k not in {"company", "updatedAt"}}
    assert {k: v for k, v in updated.items() if k not in {"company", "updatedAt"}} == unchanged
    assert datetime.fromisoformat(updated["updatedAt"]) > datetime.fromisoformat(lead["updatedAt"])
    row = await the_lead(team, lead["id"])
    assert (row.company, row.name, row.email, row.phone, row.status) == (
        "Remington Rand", "Grace Hopper", "grace@example.com", "+14155552671",
        LeadStatus.CONTACTED)
    assert row.tags == ["vip", "cobol"]


async def test_null_clears_optional_fields(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    body = await update(api, team, lead["id"], email=None, phone=None, company=None,
                        title=None, address=None, tags=None)
    updated = body["data"]["updateLead"]["lead"]
    assert (updated["email"], updated["phone"], updated["company"], updated["title"],
            updated["address"], updated["tags"]) == (None, None, None, None, None, [])
    assert (updated["name"], updated["status"]) == ("Grace Hopper", "CONTACTED")
    row = await the_lead(team, lead["id"])
    assert (row.email, row.phone, row.company, row.address_line1, row.address_country,
            row.tags) == (None, None, None, None, None, [])
    assert await LeadTag._scoped(team.org.id).count() == 0


async def test_an_address_is_replaced_as_a_whole(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    body = await update(api, team, lead["id"], address={"city": "Berlin", "country": "de"})
    assert body["data"]["updateLead"]["lead"]["address"] == {
        "line1": None, "line2": None, "city": "Berlin", "region": None, "postalCode": None,
        "country": "DE"}


@pytest.mark.parametrize("field", ["name", "status"])
async def test_required_fields_cannot_be_nulled(api: Api, team: Team, field: str) -> None:
    lead = await create_lead(api, team, **FULL)
    before = await table_state(team.org)
    body = await update(api, team, lead["id"], **{field: None})
    assert error_code(body) == "BAD_USER_INPUT"
    assert set(errors_of(body)[0]["extensions"]["fields"]) == {field}
    assert await table_state(team.org) == before


async def test_updates_are_validated_like_creation(api: Api, team: Team, rival: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    before = await table_state(team.org)
    body = await update(api, team, lead["id"], name="x" * 201, email="bad", phone="nope",
                        address={"country": "ZZ"}, tags=["t" * 51])
    assert error_code(body) == "BAD_USER_INPUT"
    assert set(errors_of(body)[0]["extensions"]["fields"]) == {
        "name", "email", "phone", "address.country", "tags"}
    assert await table_state(team.org) == before


async def test_tags_are_replaced_and_kept_in_step_with_tag_rows(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    body = await update(api, team, lead["id"], tags=["COBOL", "Navy ", "cobol"])
    assert body["data"]["updateLead"]["lead"]["tags"] == ["cobol", "navy"]
    assert sorted(await LeadTag._scoped(team.org.id).values_list("tag", flat=True)) == [
        "cobol", "navy"]


async def test_update_events_name_the_changed_fields_and_no_values(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    # Same values as stored: nothing changes, no event.
    body = await update(api, team, lead["id"], name="Grace Hopper", email="GRACE@example.com")
    assert "errors" not in body, body
    assert [e.action for e in await events(team.org, "lead.")] == ["lead.created"]

    await update(api, team, lead["id"], name="Grace B. Hopper", email="gbh@example.com",
                 phone="+1 212 555 0199", address={"city": "New York"}, tags=["vip"],
                 status="WON")
    _, updated, status = await events(team.org, "lead.")
    assert updated.action == "lead.updated"
    assert updated.summary == {"fields": ["address", "email", "name", "phone", "status",
                                         "tags"]}
    assert updated.target_id == db_id(lead["id"])
    assert updated.actor_id == team.people[Role.MEMBER].user.id
    text = str(updated.summary) + str(status.summary)
    for secret in ("Grace", "gbh", "212", "New York", "example.com"):
        assert secret not in text
    assert (status.action, status.summary) == ("lead.status_changed",
                                               {"status": ["contacted", "won"]})


async def test_tag_changes_are_reported_as_tags(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    await update(api, team, lead["id"], tags=["new-tag"])
    (event,) = [e for e in await events(team.org, "lead.") if e.action == "lead.updated"]
    assert event.summary == {"fields": ["tags"]}


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
async def test_member_and_above_edit_any_lead(api: Api, team: Team, role: Role) -> None:
    lead = await create_lead(api, team, Role.ADMIN, **FULL)
    body = await update(api, team, lead["id"], role, title=f"Edited by {role.value}")
    assert body["data"]["updateLead"]["lead"]["title"] == f"Edited by {role.value}"


async def test_a_viewer_reads_but_cannot_edit_or_assign(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    before = await table_state(team.org)
    body = await update(api, team, lead["id"], Role.VIEWER, title="Nope")
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["permission"] == "leads:write"
    body = await api.gql(ASSIGN_LEAD, {"input": {"id": lead["id"],
                                                 "ownerId": team.people[Role.VIEWER].id}},
                         token=token(team, Role.VIEWER))
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["permission"] == "leads:write"
    assert await table_state(team.org) == before


# assignLead

async def test_assign_to_a_member_and_to_nobody(api: Api, team: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    admin = team.people[Role.ADMIN]
    body = await api.gql(ASSIGN_LEAD, {"input": {"id": lead["id"], "ownerId": admin.id}},
                         token=token(team, Role.MEMBER))
    assert body["data"]["assignLead"]["lead"]["owner"] == {"id": admin.id, "name": "Adam Admin"}
    assert (await the_lead(team, lead["id"])).owner_id == admin.user.id
    body = await api.gql(ASSIGN_LEAD, {"input": {"id": lead["id"], "ownerId": None}},
                         token=token(team, Role.MEMBER))
    assert body["data"]["assignLead"]["lead"]["owner"] is None
    assert (await the_lead(team, lead["id"])).owner_id is None

    assigned = [e for e in await events(team.org, "lead.") if e.action == "lead.assigned"]
    assert [e.summary for e in assigned] == [
        {"owner": [None, str(admin.user.id)]}, {"owner": [str(admin.user.id), None]}]
    updated = [e for e in await events(team.org, "lead.") if e.action == "lead.updated"]
    assert [e.summary for e in updated] == [{"fields": ["ownerId"]}] * 2


async def test_assigning_an_outsider_is_refused(api: Api, team: Team, rival: Team) -> None:
    lead = await create_lead(api, team, **FULL)
    before = await table_state(team.org, rival.org)
    body = await api.gql(ASSIGN_LEAD, {"input": {"id": lead["id"],
                                                 "ownerId": rival.people[Role.OWNER].id}},
                         token=token(team, Role.ADMIN))
    assert error_code(body) == "BAD_USER_INPUT"
    assert set(errors_of(body)[0]["extensions"]["fields"]) == {"ownerId"}
    assert await table_state(team.org, rival.org) == before


# deleteLead

async def add_note(api: Api, team: Team, lead_id: str, body: str = "Called her.") -> None:
    answer = await api.gql("mutation($input: AddNoteInput!) { addNote(input: $input) { note { "
                           "id } } }",
                           {"input": {"leadId": lead_id, "body": body}},
                           token=token(team, Role.MEMBER))
    assert "errors" not in answer, answer


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
async def test_admins_delete_any_lead_with_its_notes_and_tags(api: Api, team: Team,
                                                              role: Role) -> None:
    lead = await create_lead(api, team, **FULL)
    keep = await create_lead(api, team, name="Keep me", tags=["vip"])
    await add_note(api, team, lead["id"])
    await add_note(api, team, keep["id"])
    body = await api.gql(DELETE_LEAD, {"id": lead["id"]}, token=token(team, role))
    assert body["data"]["deleteLead"]["deletedId"] == lead["id"]
    assert [r.id for r in await Lead._scoped(team.org.id)] == [db_id(keep["id"])]
    assert [n.lead_id for n in await Note._scoped(team.org.id)] == [db_id(keep["id"])]
    assert await LeadTag._scoped(team.org.id).values_list("lead_id", flat=True) == [
        db_id(keep["id"])]
    deleted = [e for e in await events(team.org, "lead.") if e.action == "lead.deleted"]
    assert [(e.target_id, e.actor_id) for e in deleted] == [
        (db_id(lead["id"]), team.people[role].user.id)]
    assert "Grace" not in str(deleted[0].summary)
    # Gone means gone.
    again = await api.gql(DELETE_LEAD, {"id": lead["id"]}, token=token(team, role))
    assert error_code(again) == "NOT_FOUND"


async def test_a_member_deletes_a_lead_they_own(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER]
    lead = await create_lead(api, team, Role.ADMIN, name="Mine", ownerId=member.id)
    body = await api.gql(DELETE_LEAD, {"id": lead["id"]}, token=member.token)
    assert body["data"]["deleteLead"]["deletedId"] == lead["id"]
    assert await Lead._scoped(team.org.id).count() == 0


async def test_a_member_cannot_delete_a_lead_they_do_not_own(api: Api, team: Team) -> None:
    unowned = await create_lead(api, team, name="Nobody's")
    others = await create_lead(api, team, name="Adam's", ownerId=team.people[Role.ADMIN].id)
    before = await table_state(team.org)
    for lead in (unowned, others):
        body = await api.gql(DELETE_LEAD, {"id": lead["id"]}, token=token(team, Role.MEMBER))
        assert error_code(body) == "FORBIDDEN"
        assert errors_of(body)[0]["extensions"]["permission"] == "leads:delete"
    assert await table_state(team.org) == before


async def test_a_viewer_cannot_delete_even_a_lead_they_own(api: Api, team: Team) -> None:
    viewer = team.people[Role.VIEWER]
    lead = await create_lead(api, team, name="Vic's", ownerId=viewer.id)
    before = await table_state(team.org)
    body = await api.gql(DELETE_LEAD, {"id": lead["id"]}, token=viewer.token)
    assert error_code(body) == "FORBIDDEN"
    assert await table_state(team.org) == before
