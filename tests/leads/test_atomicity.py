"""Each change and its activity event are written in one transaction: when the database refuses
the event, the change is not there either (and the client gets INTERNAL, not half a write)."""

from __future__ import annotations

from typing import Any

import pytest

from models.orgs import Role
from tests.conftest import Api, error_code
from tests.leads.conftest import (
    ASSIGN_LEAD,
    CREATE_LEAD,
    DELETE_LEAD,
    UPDATE_LEAD,
    create_lead,
    refusing_inserts,
    table_state,
    token,
)
from tests.orgs.conftest import Team

ADD_NOTE = "mutation($input: AddNoteInput!) { addNote(input: $input) { note { id } } }"
UPDATE_NOTE = "mutation($input: UpdateNoteInput!) { updateNote(input: $input) { note { id } } }"
DELETE_NOTE = "mutation($id: ID!) { deleteNote(input: {id: $id}) { deletedId } }"


@pytest.mark.parametrize("operation", ["createLead", "updateLead", "statusChange", "assignLead",
                                       "deleteLead", "addNote", "updateNote", "deleteNote"])
async def test_no_change_without_its_event(api: Api, team: Team, operation: str) -> None:
    lead = await create_lead(api, team, name="Grace Hopper", tags=["vip"])
    note = (await api.gql(ADD_NOTE, {"input": {"leadId": lead["id"], "body": "Hi"}},
                          token=token(team, Role.MEMBER)))["data"]["addNote"]["note"]
    query, variables, action = {
        "createLead": (CREATE_LEAD, {"input": {"organizationId": team.org_id, "name": "New",
                                               "tags": ["a", "b"]}}, "lead.created"),
        "updateLead": (UPDATE_LEAD, {"input": {"id": lead["id"], "name": "Renamed",
                                               "tags": ["x"]}}, "lead.updated"),
        "statusChange": (UPDATE_LEAD, {"input": {"id": lead["id"], "status": "WON"}},
                         "lead.status_changed"),
        "assignLead": (ASSIGN_LEAD, {"input": {"id": lead["id"],
                                               "ownerId": team.people[Role.ADMIN].id}},
                       "lead.assigned"),
        "deleteLead": (DELETE_LEAD, {"id": lead["id"]}, "lead.deleted"),
        "addNote": (ADD_NOTE, {"input": {"leadId": lead["id"], "body": "More"}}, "note.added"),
        "updateNote": (UPDATE_NOTE, {"input": {"id": note["id"], "body": "Edited"}},
                       "note.updated"),
        "deleteNote": (DELETE_NOTE, {"id": note["id"]}, "note.deleted"),
    }[operation]
    before = await table_state(team.org)
    async with refusing_inserts("activity_events", f"NEW.action = '{action}'"):
        body: dict[str, Any] = await api.gql(query, variables, token=token(team, Role.OWNER))
    assert error_code(body) == "INTERNAL"
    assert await table_state(team.org) == before
