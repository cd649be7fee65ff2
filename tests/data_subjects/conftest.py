"""Fixtures for the data-subject tests: the orgs "acme" (`team`: an OWNER, ADMIN, MEMBER and
VIEWER) and "globex" (`rival`), and a person ("Grace") with two leads, notes and activity in
acme, made over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api
from tests.leads.conftest import create_lead
from tests.orgs.conftest import Team, make_team

GRACE = "grace.hopper@navy.example"

EXPORT = """mutation($org: ID!, $email: String!) {
  exportDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectExport {
    email leadCount noteCount document } }
}"""
ERASE = """mutation($org: ID!, $email: String!) {
  eraseDataSubject(input: {organizationId: $org, email: $email}) { dataSubjectErasure {
    email leadsDeleted notesDeleted eventsScrubbed mentionsRedacted } }
}"""
RESTRICT = """mutation($id: ID!, $restricted: Boolean!) {
  restrictProcessing(input: {leadId: $id, restricted: $restricted}) { lead {
    id restricted restrictedAt } }
}"""
ADD_NOTE = "mutation($i: AddNoteInput!) { addNote(input: $i) { note { id } } }"
UPDATE_LEAD = "mutation($i: UpdateLeadInput!) { updateLead(input: $i) { lead { id } } }"


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="g.")


@dataclass
class Subject:
    """Grace's two leads in acme (global ids), her notes, and a lead of someone else."""

    leads: list[str]
    notes: list[str]
    other_lead: str
    other_note: str


async def gql_ok(api: Api, query: str, variables: dict[str, Any], bearer: str) -> dict[str, Any]:
    body = await api.gql(query, variables, token=bearer)
    assert "errors" not in body, body
    return body["data"]


async def make_subject(api: Api, team: Team) -> Subject:
    member = team.people[Role.MEMBER].token
    first = await create_lead(api, team, name="Grace Hopper", email=GRACE, phone="+14155552671",
                              company="US Navy", tags=["cobol"],
                              address={"city": "Arlington", "country": "US"})
    second = await create_lead(api, team, name="G. Hopper", email=GRACE.upper())
    other = await create_lead(api, team, name="Alan Turing", email="alan@example.com")
    await gql_ok(api, UPDATE_LEAD, {"i": {"id": first["id"], "status": "CONTACTED"}}, member)
    notes = []
    for lead, text in ((first, "Met at the conference"), (second, "Wants a demo")):
        data = await gql_ok(api, ADD_NOTE, {"i": {"leadId": lead["id"], "body": text}}, member)
        notes.append(data["addNote"]["note"]["id"])
    mention = await gql_ok(api, ADD_NOTE, {"i": {"leadId": other["id"], "body": (
        f"Introduced by {GRACE.title()}, write to {GRACE} for details")}}, member)
    return Subject(leads=[first["id"], second["id"]], notes=notes, other_lead=other["id"],
                   other_note=mention["addNote"]["note"]["id"])
