"""Offset connections (members, invitations, activity, me.memberships...) have opaque cursors too:
sealed for the field they came from, they page both ways, and one altered or from another list
is BAD_USER_INPUT naming the argument."""

from __future__ import annotations

import base64
from typing import Any

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team, add_invitation, add_member

MEMBERS = """query($first: Int, $after: String, $last: Int, $before: String) {
  organization(slug: "acme") {
    members(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { user { email } } }
    }
  }
}"""
INVITATIONS = """query($after: String) {
  organization(slug: "acme") { invitations(first: 5, after: $after) { nodes { email } } } }"""


async def members(api: Api, team: Team, **variables: Any) -> dict[str, Any]:
    body = await api.gql(MEMBERS, variables, token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    return body["data"]["organization"]["members"]


def emails(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["user"]["email"] for edge in page["edges"]]


async def test_offset_cursors_are_opaque_and_page_both_ways(api: Api, settings: Settings,
                                                            team: Team) -> None:
    await add_member(settings, team, "fifth@example.com", Role.VIEWER)
    everyone = emails(await members(api, team))
    assert len(everyone) == 5
    first = await members(api, team, first=2)
    assert emails(first) == everyone[:2]
    for edge in first["edges"]:
        decoded = base64.urlsafe_b64decode(edge["cursor"] + "=" * (-len(edge["cursor"]) % 4))
        assert b"arrayconnection" not in decoded and b"\x00\x00\x00\x00\x00\x00\x00" not in decoded
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    rest = await members(api, team, first=10, after=first["pageInfo"]["endCursor"])
    assert emails(rest) == everyone[2:]
    assert rest["pageInfo"]["hasPreviousPage"] is True
    back = await members(api, team, last=2, before=rest["pageInfo"]["startCursor"])
    assert emails(back) == everyone[:2]


async def test_a_foreign_or_altered_offset_cursor_is_bad_user_input(api: Api,
                                                                    team: Team) -> None:
    await add_invitation(team, "guest@example.com")
    cursor = (await members(api, team, first=1))["pageInfo"]["endCursor"]
    owner = team.people[Role.OWNER].token
    # A members cursor on invitations: another list.
    body = await api.gql(INVITATIONS, {"after": cursor}, token=owner)
    assert error_code(body) == "BAD_USER_INPUT"
    assert set(errors_of(body)[0]["extensions"]["fields"]) == {"after"}
    # Strawberry's own readable cursor, and an altered one.
    plain = base64.b64encode(b"arrayconnection:0").decode()
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-1] ^= 1
    altered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for bad, argument in ((plain, "after"), (altered, "before"), ("", "after")):
        body = await api.gql(MEMBERS, {"first" if argument == "after" else "last": 1,
                                       argument: bad}, token=owner)
        assert error_code(body) == "BAD_USER_INPUT", body
        assert set(errors_of(body)[0]["extensions"]["fields"]) == {argument}


async def test_cursors_read_through_fragments_are_sealed_too(api: Api, team: Team) -> None:
    body = await api.gql("""query { organization(slug: "acme") { members(first: 1) {
        ...Page ... on MembershipConnection { edges { cursor } } } } }
      fragment Page on MembershipConnection { pageInfo { endCursor } }""",
                         token=team.people[Role.OWNER].token)
    page = body["data"]["organization"]["members"]
    assert page["pageInfo"]["endCursor"] == page["edges"][0]["cursor"] != ""
    body = await api.gql(MEMBERS, {"first": 1, "after": page["pageInfo"]["endCursor"]},
                         token=team.people[Role.OWNER].token)
    assert len(body["data"]["organization"]["members"]["edges"]) == 1
