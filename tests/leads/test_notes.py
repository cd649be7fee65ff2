"""Notes: adding, reading page by page (newest first), editing and deleting by their author or a
moderator (ADMIN+), with body limits and activity events that never hold the note's text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from models.leads import Note
from models.orgs import Membership, Role
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import create_lead, db_id, events, note_rows, table_state, token
from tests.orgs.conftest import Team

ADD_NOTE = """
mutation($input: AddNoteInput!) {
  addNote(input: $input) { note { id body createdAt editedAt author { id name } } }
}"""
UPDATE_NOTE = """
mutation($input: UpdateNoteInput!) { updateNote(input: $input) { note { id body editedAt } } }"""
DELETE_NOTE = "mutation($id: ID!) { deleteNote(input: {id: $id}) { deletedId } }"
NOTES = """
query($id: ID!, $first: Int, $after: String) {
  lead(id: $id) {
    notes(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage endCursor }
      edges { cursor node { id body author { name } } }
    }
  }
}"""


async def add(api: Api, team: Team, lead_id: str, body: str = "Called her.",
              role: Role = Role.MEMBER) -> dict[str, Any]:
    answer = await api.gql(ADD_NOTE, {"input": {"leadId": lead_id, "body": body}},
                           token=token(team, role))
    assert "errors" not in answer, answer
    return answer["data"]["addNote"]["note"]


async def notes(api: Api, team: Team, lead_id: str, role: Role = Role.VIEWER,
                **variables: Any) -> dict[str, Any]:
    body = await api.gql(NOTES, {"id": lead_id, **variables}, token=token(team, role))
    assert "errors" not in body, body
    return body["data"]["lead"]["notes"]


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def bodies(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["body"] for edge in connection["edges"]]


@pytest.fixture
async def lead(api: Api, team: Team) -> dict[str, Any]:
    return await create_lead(api, team, name="Grace Hopper")


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
async def test_member_and_above_add_notes(api: Api, team: Team, lead: dict[str, Any],
                                          role: Role) -> None:
    note = await add(api, team, lead["id"], "  Met at the conference.\n\nFollow up!  ",
                     role)
    person = team.people[role]
    assert note["body"] == "Met at the conference.\n\nFollow up!"
    assert note["author"]["id"] == person.id
    assert note["editedAt"] is None
    (row,) = await note_rows(team.org)
    assert (row.id, row.lead_id, row.author_id, row.body) == (
        db_id(note["id"]), db_id(lead["id"]), person.user.id, note["body"])
    (event,) = await events(team.org, "note.")
    assert (event.action, event.target_id, event.actor_id) == (
        "note.added", row.id, person.user.id)
    assert "conference" not in str(event.summary)


async def test_a_viewer_reads_notes_but_cannot_add(api: Api, team: Team,
                                                   lead: dict[str, Any]) -> None:
    await add(api, team, lead["id"], "Visible to all members.")
    before = await table_state(team.org)
    body = await api.gql(ADD_NOTE, {"input": {"leadId": lead["id"], "body": "Nope"}},
                         token=token(team, Role.VIEWER))
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["permission"] == "leads:write"
    assert await table_state(team.org) == before
    assert bodies(await notes(api, team, lead["id"])) == ["Visible to all members."]


async def test_notes_are_newest_first_page_by_page(api: Api, team: Team,
                                                   lead: dict[str, Any]) -> None:
    other = await create_lead(api, team, name="Someone else")
    for i in range(5):
        await add(api, team, lead["id"], f"Note {i}")
    await add(api, team, other["id"], "Not on this lead")
    page = await notes(api, team, lead["id"], first=2)
    assert bodies(page) == ["Note 4", "Note 3"]
    assert page["totalCount"] == 5
    assert page["pageInfo"]["hasNextPage"] is True
    page = await notes(api, team, lead["id"], first=2, after=page["pageInfo"]["endCursor"])
    assert bodies(page) == ["Note 2", "Note 1"]
    assert page["pageInfo"]["hasPreviousPage"] is True
    # A note added meanwhile is newer than everything seen: the next page is unaffected.
    await add(api, team, lead["id"], "Note 5")
    page = await notes(api, team, lead["id"], first=2, after=page["pageInfo"]["endCursor"])
    assert bodies(page) == ["Note 0"]
    assert page["pageInfo"]["hasNextPage"] is False
    everything = await notes(api, team, lead["id"])
    assert bodies(everything) == [f"Note {i}" for i in range(5, -1, -1)]
    assert everything["totalCount"] == 6


async def test_notes_page_limits_and_bad_cursors(api: Api, team: Team,
                                                 lead: dict[str, Any]) -> None:
    await add(api, team, lead["id"])
    for variables, field in (({"first": 101}, "first"), ({"first": -1}, "first"),
                             ({"after": "bogus"}, "after")):
        body = await api.gql(NOTES, {"id": lead["id"], **variables},
                             token=token(team, Role.VIEWER))
        assert error_code(body) == "BAD_USER_INPUT", body
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {field}
    assert len(bodies(await notes(api, team, lead["id"], first=100))) == 1
    assert bodies(await notes(api, team, lead["id"], first=0)) == []


async def test_body_limits(api: Api, team: Team, lead: dict[str, Any]) -> None:
    longest = await add(api, team, lead["id"], "x" * 10_000)
    assert len(longest["body"]) == 10_000
    before = await table_state(team.org)
    for text in ("x" * 10_001, "", "   \n ", "nul\x00byte"):
        body = await api.gql(ADD_NOTE, {"input": {"leadId": lead["id"], "body": text}},
                             token=token(team, Role.MEMBER))
        assert error_code(body) == "BAD_USER_INPUT"
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {"body"}
        body = await api.gql(UPDATE_NOTE, {"input": {"id": longest["id"], "body": text}},
                             token=token(team, Role.MEMBER))
        assert error_code(body) == "BAD_USER_INPUT"
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {"body"}
    assert await table_state(team.org) == before


async def test_the_author_edits_their_note(api: Api, team: Team, lead: dict[str, Any]) -> None:
    note = await add(api, team, lead["id"], "First draft")
    body = await api.gql(UPDATE_NOTE, {"input": {"id": note["id"], "body": "Second draft"}},
                         token=token(team, Role.MEMBER))
    edited = body["data"]["updateNote"]["note"]
    assert edited["body"] == "Second draft"
    assert when(edited["editedAt"]) >= when(note["createdAt"])
    (row,) = await note_rows(team.org)
    assert row.body == "Second draft" and row.edited_at is not None
    assert [e.action for e in await events(team.org, "note.")] == ["note.added", "note.updated"]
    assert "draft" not in str([e.summary for e in await events(team.org, "note.")])
    # Saving the same text again changes nothing.
    body = await api.gql(UPDATE_NOTE, {"input": {"id": note["id"], "body": "Second draft"}},
                         token=token(team, Role.MEMBER))
    assert body["data"]["updateNote"]["note"]["editedAt"] == edited["editedAt"]
    assert len(await events(team.org, "note.")) == 2


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
async def test_moderators_edit_and_delete_anyones_notes(api: Api, team: Team,
                                                        lead: dict[str, Any],
                                                        role: Role) -> None:
    note = await add(api, team, lead["id"], "By the member")
    body = await api.gql(UPDATE_NOTE, {"input": {"id": note["id"], "body": "Moderated"}},
                         token=token(team, role))
    assert body["data"]["updateNote"]["note"]["body"] == "Moderated"
    body = await api.gql(DELETE_NOTE, {"id": note["id"]}, token=token(team, role))
    assert body["data"]["deleteNote"]["deletedId"] == note["id"]
    assert await note_rows(team.org) == []
    deleted = [e for e in await events(team.org, "note.") if e.action == "note.deleted"]
    assert [(e.target_id, e.actor_id) for e in deleted] == [
        (db_id(note["id"]), team.people[role].user.id)]


async def test_others_cannot_edit_or_delete_a_note(api: Api, team: Team, settings: Any,
                                                   lead: dict[str, Any]) -> None:
    note = await add(api, team, lead["id"], "By the admin", Role.ADMIN)
    before = await table_state(team.org)
    for role, permission in ((Role.MEMBER, "notes:moderate"), (Role.VIEWER, "leads:write")):
        for query, variables in ((UPDATE_NOTE, {"input": {"id": note["id"], "body": "Hijack"}}),
                                 (DELETE_NOTE, {"id": note["id"]})):
            body = await api.gql(query, variables, token=token(team, role))
            assert error_code(body) == "FORBIDDEN"
            assert errors_of(body)[0]["extensions"]["permission"] == permission
    assert await table_state(team.org) == before


async def test_an_author_demoted_to_viewer_can_no_longer_edit(api: Api, team: Team,
                                                             lead: dict[str, Any]) -> None:
    note = await add(api, team, lead["id"], "Written as a member")
    await Membership._scoped(team.org.id).filter(user_id=team.people[Role.MEMBER].user.id) \
        .update(role=Role.VIEWER)
    before = await table_state(team.org)
    for query, variables in ((UPDATE_NOTE, {"input": {"id": note["id"], "body": "Edit"}}),
                             (DELETE_NOTE, {"id": note["id"]})):
        body = await api.gql(query, variables, token=token(team, Role.MEMBER))
        assert error_code(body) == "FORBIDDEN"
    assert await table_state(team.org) == before


async def test_the_author_deletes_their_note(api: Api, team: Team, lead: dict[str, Any]) -> None:
    keep = await add(api, team, lead["id"], "Keep")
    note = await add(api, team, lead["id"], "Delete me")
    body = await api.gql(DELETE_NOTE, {"id": note["id"]}, token=token(team, Role.MEMBER))
    assert body["data"]["deleteNote"]["deletedId"] == note["id"]
    assert [n.id for n in await Note._scoped(team.org.id)] == [db_id(keep["id"])]
    again = await api.gql(DELETE_NOTE, {"id": note["id"]}, token=token(team, Role.MEMBER))
    assert error_code(again) == "NOT_FOUND"
    assert bodies(await notes(api, team, lead["id"])) == ["Keep"]
