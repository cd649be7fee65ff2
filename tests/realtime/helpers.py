"""GraphQL documents and small steps shared by the realtime tests."""

from __future__ import annotations

from typing import Any

from models.orgs import Role
from tests.orgs.conftest import Team
from tests.realtime.conftest import Server

LEAD_EVENTS = """
subscription($org: ID!, $filter: LeadEventFilter) {
  leadEvents(organizationId: $org, filter: $filter) {
    type leadId changedFields committedAt occurredAt
    lead { id name status owner { id name } }
    note { id body }
  }
}"""

ACTIVITY = """
subscription($org: ID!) {
  activity(organizationId: $org) { id action targetType summary actor { id } }
}"""

MEMBERSHIP_EVENTS = """
subscription { membershipEvents { type organizationId role membership { id role } } }"""

CREATE_LEAD = """
mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id name } } }"""
UPDATE_LEAD = "mutation($input: UpdateLeadInput!) { updateLead(input: $input) { lead { id } } }"
ASSIGN_LEAD = "mutation($input: AssignLeadInput!) { assignLead(input: $input) { lead { id } } }"
DELETE_LEAD = "mutation($id: ID!) { deleteLead(input: {id: $id}) { deletedId } }"
ADD_NOTE = "mutation($input: AddNoteInput!) { addNote(input: $input) { note { id } } }"
UPDATE_ROLE = """
mutation($input: UpdateMemberRoleInput!) {
  updateMemberRole(input: $input) { membership { id role } } }"""
REMOVE_MEMBER = "mutation($id: ID!) { removeMember(input: {membershipId: $id}) { deletedId } }"


async def create_lead(server: Server, team: Team, name: str = "Grace Hopper",
                      role: Role = Role.MEMBER, **fields: Any) -> str:
    body = await server.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                    "name": name, **fields}},
                            token=team.people[role].token)
    assert "errors" not in body, body
    return body["data"]["createLead"]["lead"]["id"]
