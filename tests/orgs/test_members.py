"""Members over HTTP: the members connection, role changes, removal, leaving and ownership.

The rules: a member acts only on members ranked below them (OWNERs on anyone), nobody grants a
role above their own, an org always keeps an OWNER, and a removed member is out on their very
next request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from core.settings import Settings
from models.activity import ActivityEvent
from models.orgs import Membership, Role
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team, add_member, events_of, gid, snapshot

MEMBERS = """query($first: Int, $after: String) { organization(slug: "acme") {
  members(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id role joinedAt user { id name email avatarUrl } } }
    nodes { id }
  } } }"""
CHANGE_ROLE = """mutation($id: ID!, $role: Role!) {
  updateMemberRole(input: {membershipId: $id, role: $role}) {
    membership { id role user { email } } }
}"""
REMOVE = "mutation($id: ID!) { removeMember(input: {membershipId: $id}) { deletedId } }"
LEAVE = "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { deletedId } }"
TRANSFER = """mutation($org: ID!, $to: ID!) {
  transferOwnership(input: {organizationId: $org, membershipId: $to}) {
    organization { slug viewerRole } }
}"""
VIEW = '{ organization(slug: "acme") { viewerRole members(first: 1) { totalCount } } }'


async def role_of(team: Team, membership_gid: str) -> Role | None:
    rows = await Membership._scoped(team.org.id).values_list("id", "role")
    return {gid("Membership", row_id): role for row_id, role in rows}.get(membership_gid)


def refusal(body: dict[str, Any]) -> tuple[str, str | None]:
    (error,) = errors_of(body)
    return error["extensions"]["code"], error["extensions"].get("reason")


# organization.members

async def test_members_is_a_relay_connection_oldest_first(api: Api, settings: Settings,
                                                          team: Team) -> None:
    token = team.people[Role.VIEWER].token
    body = await api.gql(MEMBERS, {"first": 2}, token=token)
    page = body["data"]["organization"]["members"]
    assert page["totalCount"] == 4
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    assert [e["node"]["role"] for e in page["edges"]] == ["OWNER", "ADMIN"]
    assert [n["id"] for n in page["nodes"]] == [e["node"]["id"] for e in page["edges"]]
    owner = page["edges"][0]["node"]
    assert owner["id"] == team.memberships[Role.OWNER]
    assert owner["user"] == {"id": team.people[Role.OWNER].id, "name": "Olive Owner",
                             "email": team.people[Role.OWNER].email, "avatarUrl": None}
    assert owner["joinedAt"]

    body = await api.gql(MEMBERS, {"first": 2, "after": page["pageInfo"]["endCursor"]},
                         token=token)
    rest = body["data"]["organization"]["members"]
    assert [e["node"]["role"] for e in rest["edges"]] == ["MEMBER", "VIEWER"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True


async def test_members_page_size_is_capped(api: Api, team: Team) -> None:
    body = await api.gql(MEMBERS, {"first": 101}, token=team.people[Role.OWNER].token)
    assert error_code(body) == "BAD_USER_INPUT"


# updateMemberRole

async def test_owner_changes_a_role_and_it_is_logged(api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER]
    body = await api.gql(CHANGE_ROLE, {"id": team.memberships[Role.MEMBER], "role": "ADMIN"},
                         token=owner.token, headers={"user-agent": "role-test"})
    assert body["data"]["updateMemberRole"]["membership"] == {
        "id": team.memberships[Role.MEMBER], "role": "ADMIN",
        "user": {"email": team.people[Role.MEMBER].email}}
    assert await role_of(team, team.memberships[Role.MEMBER]) is Role.ADMIN
    event = (await events_of(team.org))[-1]
    assert event.action == "member.role_changed"
    assert event.actor_id == owner.user.id
    assert gid("Membership", event.target_id) == team.memberships[Role.MEMBER]
    assert event.summary == {"role": ["member", "admin"]}
    assert (event.ip, event.user_agent) == ("203.0.113.7", "role-test")
    # The new ADMIN has the new permissions on their next request.
    body = await api.gql('{ organization(slug: "acme") { viewerRole activity(first: 1) '
                         '{ totalCount } } }', token=team.people[Role.MEMBER].token)
    assert body["data"]["organization"]["viewerRole"] == "ADMIN"


@pytest.mark.parametrize(("target", "new_role", "outcome"), [
    (Role.VIEWER, "MEMBER", None),
    (Role.MEMBER, "VIEWER", None),
    (Role.VIEWER, "ADMIN", None),
    (Role.VIEWER, "OWNER", ("FORBIDDEN", "ROLE_ABOVE_OWN")),
    (Role.OWNER, "VIEWER", ("FORBIDDEN", "RANK")),
    (Role.OWNER, "ADMIN", ("FORBIDDEN", "RANK")),
    (Role.ADMIN, "MEMBER", ("FORBIDDEN", "RANK")),  # their own membership: not below them
])
async def test_what_an_admin_may_change(api: Api, settings: Settings, team: Team, target: Role,
                                        new_role: str, outcome: tuple[str, str] | None) -> None:
    _, other_admin = await add_member(settings, team, "admin2@example.com", Role.ADMIN)
    before = await snapshot()
    body = await api.gql(CHANGE_ROLE, {"id": team.memberships[target], "role": new_role},
                         token=team.people[Role.ADMIN].token)
    if outcome is None:
        assert body["data"]["updateMemberRole"]["membership"]["role"] == new_role
        assert await role_of(team, team.memberships[target]) is Role[new_role]
        return
    assert refusal(body) == outcome
    assert await snapshot() == before
    body = await api.gql(CHANGE_ROLE, {"id": other_admin, "role": "VIEWER"},
                         token=team.people[Role.ADMIN].token)
    assert refusal(body) == ("FORBIDDEN", "RANK")  # another ADMIN is not below them either
    assert await role_of(team, other_admin) is Role.ADMIN


async def test_the_last_owner_cannot_step_down(api: Api, settings: Settings, team: Team) -> None:
    owner = team.people[Role.OWNER]
    before = await snapshot()
    body = await api.gql(CHANGE_ROLE, {"id": team.memberships[Role.OWNER], "role": "ADMIN"},
                         token=owner.token)
    assert refusal(body) == ("CONFLICT", "LAST_OWNER")
    assert await snapshot() == before  # no change and no event

    _, co_owner = await add_member(settings, team, "co@example.com", Role.OWNER)
    body = await api.gql(CHANGE_ROLE, {"id": team.memberships[Role.OWNER], "role": "ADMIN"},
                         token=owner.token)
    assert body["data"]["updateMemberRole"]["membership"]["role"] == "ADMIN"
    assert await role_of(team, co_owner) is Role.OWNER


async def test_two_owners_stepping_down_at_once_leave_one(api: Api, settings: Settings,
                                                          team: Team) -> None:
    """Both requests reach the owner check while the test holds the owner rows locked, then
    run together: the check must lock them too, or both see two OWNERs and both step down."""
    co, co_membership = await add_member(settings, team, "co@example.com", Role.OWNER)
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold_owner_rows() -> None:
        async with in_transaction("default"):
            await Membership._scoped(team.org.id).filter(role=Role.OWNER) \
                .select_for_update().only("id")
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold_owner_rows())
    await locked.wait()
    requests = [
        asyncio.create_task(api.gql(CHANGE_ROLE, {"id": membership, "role": "ADMIN"},
                                    token=token))
        for membership, token in ((team.memberships[Role.OWNER], team.people[Role.OWNER].token),
                                  (co_membership, co.token))
    ]
    await asyncio.sleep(0.3)
    release.set()
    await holder
    bodies = await asyncio.gather(*requests)
    outcomes = sorted("ok" if "errors" not in b else refusal(b)[1] for b in bodies)
    assert outcomes == ["LAST_OWNER", "ok"], bodies
    assert await Membership._scoped(team.org.id).filter(role=Role.OWNER).count() == 1


async def test_setting_the_same_role_changes_nothing(api: Api, team: Team) -> None:
    before = await snapshot()
    body = await api.gql(CHANGE_ROLE, {"id": team.memberships[Role.VIEWER], "role": "VIEWER"},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["updateMemberRole"]["membership"]["role"] == "VIEWER"
    assert await snapshot() == before


# removeMember

async def test_a_removed_member_is_out_on_their_next_request(api: Api, team: Team) -> None:
    admin = team.people[Role.ADMIN]
    assert "errors" not in await api.gql(VIEW, token=admin.token)
    body = await api.gql(REMOVE, {"id": team.memberships[Role.ADMIN]},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["removeMember"]["deletedId"] == team.memberships[Role.ADMIN]
    assert await role_of(team, team.memberships[Role.ADMIN]) is None
    event = (await events_of(team.org))[-1]
    assert event.action == "member.removed"
    assert event.actor_id == team.people[Role.OWNER].user.id
    assert event.summary == {"user": str(admin.user.id), "role": "admin"}

    for document, variables in ((VIEW, None),
                                ("query($id: ID!) { node(id: $id) { id } }",
                                 {"id": team.org_id}),
                                (REMOVE, {"id": team.memberships[Role.VIEWER]})):
        body = await api.gql(document, variables, token=admin.token)
        assert error_code(body) == "NOT_FOUND", body
    body = await api.gql("{ me { memberships { nodes { role } } } }", token=admin.token)
    assert body["data"]["me"]["memberships"]["nodes"] == []


@pytest.mark.parametrize(("target", "outcome"), [
    (Role.MEMBER, None), (Role.VIEWER, None),
    (Role.OWNER, ("FORBIDDEN", "RANK")),
])
async def test_what_an_admin_may_remove(api: Api, settings: Settings, team: Team, target: Role,
                                        outcome: tuple[str, str] | None) -> None:
    _, other_admin = await add_member(settings, team, "admin2@example.com", Role.ADMIN)
    token = team.people[Role.ADMIN].token
    before = await snapshot()
    body = await api.gql(REMOVE, {"id": team.memberships[target]}, token=token)
    if outcome is None:
        assert body["data"]["removeMember"]["deletedId"] == team.memberships[target]
        assert await role_of(team, team.memberships[target]) is None
    else:
        assert refusal(body) == outcome
        assert await snapshot() == before
    body = await api.gql(REMOVE, {"id": other_admin}, token=token)
    assert refusal(body) == ("FORBIDDEN", "RANK")
    assert await role_of(team, other_admin) is Role.ADMIN


async def test_removing_yourself_points_to_leave(api: Api, team: Team) -> None:
    body = await api.gql(REMOVE, {"id": team.memberships[Role.OWNER]},
                         token=team.people[Role.OWNER].token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert "membershipId" in errors_of(body)[0]["extensions"]["fields"]
    assert await role_of(team, team.memberships[Role.OWNER]) is Role.OWNER


async def test_an_owner_removes_another_owner(api: Api, settings: Settings, team: Team) -> None:
    _, co_owner = await add_member(settings, team, "co@example.com", Role.OWNER)
    body = await api.gql(REMOVE, {"id": co_owner}, token=team.people[Role.OWNER].token)
    assert body["data"]["removeMember"]["deletedId"] == co_owner
    assert await Membership._scoped(team.org.id).filter(role=Role.OWNER).count() == 1


# leaveOrganization

async def test_a_member_leaves(api: Api, team: Team) -> None:
    member = team.people[Role.MEMBER]
    body = await api.gql(LEAVE, {"id": team.org_id}, token=member.token)
    # What is gone is the membership: the organization stays.
    assert body["data"]["leaveOrganization"]["deletedId"] == team.memberships[Role.MEMBER]
    assert await role_of(team, team.memberships[Role.MEMBER]) is None
    event = (await events_of(team.org))[-1]
    assert (event.action, event.actor_id) == ("member.left", member.user.id)
    assert error_code(await api.gql(VIEW, token=member.token)) == "NOT_FOUND"
    body = await api.gql(LEAVE, {"id": team.org_id}, token=member.token)
    assert error_code(body) == "NOT_FOUND"


async def test_the_last_owner_cannot_leave(api: Api, team: Team) -> None:
    before = await snapshot()
    body = await api.gql(LEAVE, {"id": team.org_id}, token=team.people[Role.OWNER].token)
    assert refusal(body) == ("CONFLICT", "LAST_OWNER")
    assert "transfer" in errors_of(body)[0]["message"]
    assert await snapshot() == before


# transferOwnership

async def test_transfer_makes_the_target_owner_and_the_owner_admin(api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER]
    body = await api.gql(TRANSFER, {"org": team.org_id, "to": team.memberships[Role.VIEWER]},
                         token=owner.token)
    assert body["data"]["transferOwnership"]["organization"] == {"slug": "acme",
                                                                 "viewerRole": "ADMIN"}
    assert await role_of(team, team.memberships[Role.VIEWER]) is Role.OWNER
    assert await role_of(team, team.memberships[Role.OWNER]) is Role.ADMIN
    event = (await events_of(team.org))[-1]
    assert event.action == "organization.ownership_transferred"
    assert event.actor_id == owner.user.id
    assert event.summary == {"from": str(owner.user.id),
                             "to": str(team.people[Role.VIEWER].user.id)}

    # The former OWNER is an ADMIN now: no second transfer, and free to leave.
    body = await api.gql(TRANSFER, {"org": team.org_id, "to": team.memberships[Role.MEMBER]},
                         token=owner.token)
    assert errors_of(body)[0]["extensions"] == {"code": "FORBIDDEN",
                                                "permission": "ownership:transfer"}
    body = await api.gql(LEAVE, {"id": team.org_id}, token=owner.token)
    assert body["data"]["leaveOrganization"]["deletedId"] == team.memberships[Role.OWNER]
    assert await Membership._scoped(team.org.id).filter(role=Role.OWNER).count() == 1


async def test_transfer_to_yourself_is_bad_input(api: Api, team: Team) -> None:
    events_before = await ActivityEvent._scoped(team.org.id).count()
    body = await api.gql(TRANSFER, {"org": team.org_id, "to": team.memberships[Role.OWNER]},
                         token=team.people[Role.OWNER].token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert "membershipId" in errors_of(body)[0]["extensions"]["fields"]
    assert await ActivityEvent._scoped(team.org.id).count() == events_before
    assert await role_of(team, team.memberships[Role.OWNER]) is Role.OWNER
