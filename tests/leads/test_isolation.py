"""lead(id:), node(id:) and tenant isolation: to anyone outside its org a lead or note does not
exist (NOT_FOUND, never FORBIDDEN, the same answer as for an id that names nothing), and no
query, mutation or filter lets them read or change it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from models.orgs import Membership, Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import (
    ASSIGN_LEAD,
    CREATE_LEAD,
    DELETE_LEAD,
    LEAD,
    LEADS,
    NODE,
    UPDATE_LEAD,
    create_lead,
    table_state,
)
from tests.orgs.conftest import Team, gid

ADD_NOTE = "mutation($input: AddNoteInput!) { addNote(input: $input) { note { id } } }"
UPDATE_NOTE = "mutation($input: UpdateNoteInput!) { updateNote(input: $input) { note { id } } }"
DELETE_NOTE = "mutation($id: ID!) { deleteNote(input: {id: $id}) { deletedId } }"
NOTES_OF = "query($id: ID!) { lead(id: $id) { notes { nodes { body } } } }"


def public(body: dict[str, Any]) -> list[tuple[str, str]]:
    """What an error tells the client, without where in the document it happened."""
    return [(e["message"], e["extensions"]["code"]) for e in errors_of(body)]


@pytest.mark.parametrize("role", list(Role))
async def test_every_member_reads_a_lead_by_id_and_node(api: Api, team: Team,
                                                        role: Role) -> None:
    lead = await create_lead(api, team, name="Grace Hopper", email="grace@example.com")
    body = await api.gql(LEAD, {"id": lead["id"]}, token=team.people[role].token)
    assert body["data"]["lead"] == lead
    body = await api.gql(NODE, {"id": lead["id"]}, token=team.people[role].token)
    assert body["data"]["node"] == {"id": lead["id"], "name": "Grace Hopper"}


async def test_a_lead_does_not_exist_outside_its_org(api: Api, team: Team,
                                                     rival: Team) -> None:
    lead = await create_lead(api, team, name="Grace Hopper", email="grace@example.com")
    missing = gid("Lead", uuid.uuid4())
    for caller in [*(p.token for p in rival.people.values()), None]:
        for query in (LEAD, NODE):
            theirs = await api.gql(query, {"id": lead["id"]}, token=caller)
            nothing = await api.gql(query, {"id": missing}, token=caller)
            assert error_code(theirs) == "NOT_FOUND"
            assert public(theirs) == public(nothing)
            assert theirs["data"] is None
            assert "Grace" not in str(theirs) and "grace@" not in str(theirs)


@pytest.mark.parametrize("bad_id", [gid("Lead", "not-a-uuid"), gid("Organization", uuid.uuid4()),
                                    gid("Nope", uuid.uuid4()), gid("Note", uuid.uuid4())])
async def test_ids_that_name_no_lead_are_not_found(api: Api, team: Team, bad_id: str) -> None:
    owner = team.people[Role.OWNER].token
    for query in (LEAD, NODE):
        body = await api.gql(query, {"id": bad_id}, token=owner)
        assert error_code(body) == "NOT_FOUND"
        assert errors_of(body)[0]["extensions"].get("field") == "id"


async def test_a_note_is_not_a_node(api: Api, team: Team) -> None:
    """Notes are read through their lead; `node(id:)` knows none, so it reveals none."""
    lead = await create_lead(api, team)
    note = await api.gql(ADD_NOTE, {"input": {"leadId": lead["id"], "body": "Hi"}},
                         token=team.people[Role.MEMBER].token)
    body = await api.gql(NODE, {"id": note["data"]["addNote"]["note"]["id"]},
                         token=team.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"


async def test_no_mutation_reaches_another_orgs_leads_or_notes(api: Api, team: Team,
                                                               rival: Team) -> None:
    lead = await create_lead(api, team, name="Grace Hopper", ownerId=team.people[Role.MEMBER].id)
    note = (await api.gql(ADD_NOTE, {"input": {"leadId": lead["id"], "body": "Secret"}},
                          token=team.people[Role.MEMBER].token))["data"]["addNote"]["note"]
    before = await table_state(team.org, rival.org)
    attempts = [
        (UPDATE_LEAD, {"input": {"id": lead["id"], "name": "Hacked"}}, "id"),
        (ASSIGN_LEAD, {"input": {"id": lead["id"], "ownerId": rival.people[Role.OWNER].id}},
         "id"),
        (DELETE_LEAD, {"id": lead["id"]}, "id"),
        (ADD_NOTE, {"input": {"leadId": lead["id"], "body": "Spam"}}, "leadId"),
        (UPDATE_NOTE, {"input": {"id": note["id"], "body": "Hacked"}}, "id"),
        (DELETE_NOTE, {"id": note["id"]}, "id"),
        (CREATE_LEAD, {"input": {"organizationId": team.org_id, "name": "Planted"}},
         "organizationId"),
    ]
    for role, person in rival.people.items():
        for query, variables, field in attempts:
            body = await api.gql(query, variables, token=person.token)
            assert error_code(body) == "NOT_FOUND", (role, query, body)
            assert errors_of(body)[0]["extensions"].get("field") == field
            assert "Secret" not in str(body) and "Grace" not in str(body)
    assert await table_state(team.org, rival.org) == before


async def test_one_orgs_lists_never_hold_another_orgs_leads(api: Api, team: Team,
                                                            rival: Team) -> None:
    ours = await create_lead(api, team, name="Ours Grace", tags=["shared"])
    theirs = await create_lead(api, rival, name="Theirs Grace", tags=["shared"],
                               ownerId=rival.people[Role.MEMBER].id)
    viewer = team.people[Role.VIEWER].token
    for flt in ({}, {"search": "grace"}, {"tags": ["shared"]}, {"status": ["NEW"]},
                {"source": ["MANUAL"]}):
        body = await api.gql(LEADS, {"slug": team.slug, "filter": flt}, token=viewer)
        connection = body["data"]["organization"]["leads"]
        assert [e["node"]["id"] for e in connection["edges"]] == [ours["id"]]
        assert connection["totalCount"] == 1
    # Filtering by another org's user finds nothing of theirs (and says nothing about them).
    body = await api.gql(LEADS, {"slug": team.slug,
                                 "filter": {"ownerId": rival.people[Role.MEMBER].id}},
                         token=viewer)
    assert body["data"]["organization"]["leads"] == {
        "totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False,
                                                    "hasPreviousPage": False,
                                                    "startCursor": None, "endCursor": None}}
    # Their list is theirs alone, and ours is not theirs to read.
    body = await api.gql(LEADS, {"slug": rival.slug}, token=viewer)
    assert error_code(body) == "NOT_FOUND"
    assert theirs["id"] not in str(body)
    body = await api.gql(LEADS, {"slug": team.slug}, token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"


async def test_a_cursor_from_one_org_reveals_nothing_in_another(api: Api, team: Team,
                                                                rival: Team) -> None:
    await create_lead(api, team, name="A")
    await create_lead(api, team, name="B")
    await create_lead(api, rival, name="Theirs")
    body = await api.gql(LEADS, {"slug": team.slug, "first": 1},
                         token=team.people[Role.VIEWER].token)
    cursor = body["data"]["organization"]["leads"]["pageInfo"]["endCursor"]
    body = await api.gql(LEADS, {"slug": rival.slug, "first": 5, "after": cursor},
                         token=rival.people[Role.VIEWER].token)
    # Sealed for acme's list: it does not open in globex's, and says nothing of acme's leads.
    assert error_code(body) == "BAD_USER_INPUT"
    assert body["data"] is None or body["data"]["organization"] is None
    assert '"A"' not in str(body) and "'A'" not in str(body)


async def test_notes_are_read_only_through_a_visible_lead(api: Api, team: Team,
                                                          rival: Team) -> None:
    lead = await create_lead(api, team)
    await api.gql(ADD_NOTE, {"input": {"leadId": lead["id"], "body": "Secret"}},
                  token=team.people[Role.MEMBER].token)
    body = await api.gql(NOTES_OF, {"id": lead["id"]}, token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    assert "Secret" not in str(body)
    body = await api.gql(NOTES_OF, {"id": lead["id"]}, token=team.people[Role.VIEWER].token)
    assert body["data"]["lead"]["notes"]["nodes"] == [{"body": "Secret"}]


TWO_ORGS = """
query($a: String!, $b: String!) {
  a: organization(slug: $a) { leads { nodes { name } } }
  b: organization(slug: $b) { leads { nodes { name } } }
}"""
TWO_NODES = """
query($a: ID!, $b: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } }"""


async def test_one_request_over_two_orgs_keeps_each_to_its_own(api: Api, team: Team,
                                                               rival: Team) -> None:
    """Someone in both orgs sees each org's leads under that org only; someone in one sees
    nothing of the other even when both are asked in one request (loaders are batched across
    the request, so this is where a tenant mix-up would show)."""
    both = team.people[Role.MEMBER]
    await Membership.create(organization=rival.org, user=both.user, role=Role.VIEWER)
    ours = await create_lead(api, team, name="Ours")
    theirs = await create_lead(api, rival, name="Theirs")

    body = await api.gql(TWO_ORGS, {"a": team.slug, "b": rival.slug}, token=both.token)
    assert body["data"]["a"]["leads"]["nodes"] == [{"name": "Ours"}]
    assert body["data"]["b"]["leads"]["nodes"] == [{"name": "Theirs"}]
    body = await api.gql(TWO_NODES, {"a": ours["id"], "b": theirs["id"]}, token=both.token)
    assert body["data"] == {"a": {"id": ours["id"]}, "b": {"id": theirs["id"]}}

    only_ours = team.people[Role.VIEWER].token
    # `organization` is nullable: the one NOT_FOUND nulls its own field; `node` is non-null,
    # so there it nulls the whole answer.
    for query, variables, data in (
            (TWO_ORGS, {"a": team.slug, "b": rival.slug},
             {"a": {"leads": {"nodes": [{"name": "Ours"}]}}, "b": None}),
            (TWO_NODES, {"a": ours["id"], "b": theirs["id"]}, None)):
        body = await api.gql(query, variables, token=only_ours)
        assert body["data"] == data
        assert [(e["extensions"]["code"], e["path"]) for e in errors_of(body)] == [
            ("NOT_FOUND", ["b"])]
        assert "Theirs" not in str(body)

    # Their viewer role does not let them write there, and our lead cannot go to their people.
    body = await api.gql(UPDATE_LEAD, {"input": {"id": theirs["id"], "name": "Edited"}},
                         token=both.token)
    assert error_code(body) == "FORBIDDEN"
    body = await api.gql(ASSIGN_LEAD, {"input": {"id": ours["id"],
                                                 "ownerId": rival.people[Role.OWNER].id}},
                         token=both.token)
    assert error_code(body) == "BAD_USER_INPUT"
