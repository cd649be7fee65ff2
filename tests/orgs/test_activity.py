"""The activity log over HTTP: one event per change, read and filtered by ADMIN+, append-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.settings import Settings
from models.activity import ActivityAction, ActivityEvent
from models.orgs import Role
from schema import schema
from tests.conftest import Api, error_code
from tests.orgs.conftest import (
    Person,
    Team,
    add_member,
    signed_in,
    snapshot,
)
from tests.smtp import Inbox, token_in

ACTIVITY = """query($first: Int, $after: String, $filter: ActivityFilter) {
  organization(slug: "acme") { activity(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id action targetType targetId summary ip userAgent createdAt actor { id name } }
  } } }"""


async def activity(api: Api, token: str, **variables: Any) -> dict[str, Any]:
    body = await api.gql(ACTIVITY, variables or None, token=token)
    assert "errors" not in body, body
    return body["data"]["organization"]["activity"]


async def test_every_org_change_is_logged_with_who_what_and_where(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    owner, admin = team.people[Role.OWNER], team.people[Role.ADMIN]
    _, extra = await add_member(settings, team, "extra@example.com", Role.VIEWER)
    agent = {"headers": {"user-agent": "activity-walk/2.0"}}

    async def ok(document: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        body = await api.gql(document, variables, token=token, **agent)
        assert "errors" not in body, body
        return body["data"]

    steps: list[tuple[str, str, Person, str]] = []  # action, target type, actor, target
    await ok("mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { "
             "organization { id } } }",
             {"i": {"organizationId": team.org_id, "name": "Acme 2"}}, admin.token)
    steps.append(("organization.updated", "organization", admin, team.org_id))
    data = await ok("mutation($i: InviteMemberInput!) { inviteMember(input: $i) { invitation { "
                    "id } } }",
                    {"i": {"organizationId": team.org_id, "email": "joiner@example.com",
                           "role": "MEMBER"}}, admin.token)
    invitation = data["inviteMember"]["invitation"]["id"]
    steps.append(("invitation.created", "invitation", admin, invitation))
    await ok("mutation($id: ID!) { resendInvitation(input: {id: $id}) { invitation { "
             "id } } }", {"id": invitation},
             owner.token)
    steps.append(("invitation.resent", "invitation", owner, invitation))
    joiner = await signed_in(settings, "joiner@example.com", "Jo Iner")
    token = token_in(inbox.to("joiner@example.com", "been invited")[-1], "invitations/accept")
    data = await ok("mutation($t: String!) { acceptInvitation(input: {token: $t}) { membership { "
                    "id } } }",
                    {"t": token}, joiner.token)
    steps.append(("member.joined", "membership", joiner,
                  data["acceptInvitation"]["membership"]["id"]))
    data = await ok("mutation($i: InviteMemberInput!) { inviteMember(input: $i) { invitation { "
                    "id } } }",
                    {"i": {"organizationId": team.org_id, "email": "never@example.com",
                           "role": "VIEWER"}}, admin.token)
    never = data["inviteMember"]["invitation"]["id"]
    steps.append(("invitation.created", "invitation", admin, never))
    await ok("mutation($id: ID!) { revokeInvitation(input: {id: $id}) { invitation { id } } }",
             {"id": never}, admin.token)
    steps.append(("invitation.revoked", "invitation", admin, never))
    await ok("mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { membership { "
             "id } } }",
             {"i": {"membershipId": team.memberships[Role.VIEWER], "role": "MEMBER"}},
             admin.token)
    steps.append(("member.role_changed", "membership", admin, team.memberships[Role.VIEWER]))
    await ok("mutation($id: ID!) { removeMember(input: {membershipId: $id}) { "
             "deletedId } }", {"id": extra},
             admin.token)
    steps.append(("member.removed", "membership", admin, extra))
    await ok("mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { deletedId } }",
             {"id": team.org_id}, team.people[Role.MEMBER].token)
    steps.append(("member.left", "membership", team.people[Role.MEMBER],
                  team.memberships[Role.MEMBER]))
    await ok("mutation($i: TransferOwnershipInput!) { transferOwnership(input: $i) { "
             "organization { id } } }",
             {"i": {"organizationId": team.org_id,
                    "membershipId": team.memberships[Role.ADMIN]}}, owner.token)
    steps.append(("organization.ownership_transferred", "membership", owner,
                  team.memberships[Role.ADMIN]))

    log = await activity(api, admin.token, first=50)
    nodes = list(reversed(log["nodes"]))  # oldest first
    assert nodes[0]["action"] == "ORGANIZATION_CREATED"  # by make_team, over HTTP too
    assert nodes[0]["actor"]["id"] == owner.id
    assert log["totalCount"] == len(steps) + 1
    for node, (action, target_type, actor, target) in zip(nodes[1:], steps, strict=True):
        assert node["action"] == ActivityAction(action).name  # the enum's spelling
        assert node["targetType"] == target_type
        assert node["targetId"] == target, action
        assert node["actor"]["id"] == actor.id, action
        assert (node["ip"], node["userAgent"]) == ("203.0.113.7", "activity-walk/2.0")
    summaries = {n["action"]: n["summary"] for n in nodes}
    assert summaries["ORGANIZATION_UPDATED"] == {"name": ["Team acme", "Acme 2"]}
    assert summaries["MEMBER_ROLE_CHANGED"] == {"role": ["VIEWER", "MEMBER"]}  # as Role spells
    assert "rlk_inv_" not in str(summaries)  # no invitation token in the log
    stored = await ActivityEvent._scoped(team.org.id).count()
    assert stored == log["totalCount"]


async def test_the_log_is_newest_first_and_pages(api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER]
    for n in range(4):
        body = await api.gql(
            "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { "
            "organization { id } } }",
            {"i": {"organizationId": team.org_id, "name": f"Name {n}"}}, token=owner.token)
        assert "errors" not in body, body
    first = await activity(api, owner.token, first=2)
    assert first["totalCount"] == 5
    assert [n["summary"]["name"][1] for n in first["nodes"]] == ["Name 3", "Name 2"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await activity(api, owner.token, first=10, after=first["pageInfo"]["endCursor"])
    assert [n["action"] for n in rest["nodes"]] == ["ORGANIZATION_UPDATED"] * 2 + [
        "ORGANIZATION_CREATED"]
    assert rest["pageInfo"]["hasNextPage"] is False
    stamps = [n["createdAt"] for n in first["nodes"] + rest["nodes"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_filters_by_action_actor_and_time(api: Api, team: Team) -> None:
    owner, admin = team.people[Role.OWNER], team.people[Role.ADMIN]
    rename = ("mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { "
              "organization { id } } }")
    await api.gql(rename, {"i": {"organizationId": team.org_id, "name": "By Admin"}},
                  token=admin.token)
    old = await ActivityEvent._scoped(team.org.id).filter(action="organization.created").first()
    assert old is not None
    old.created_at = datetime.now(UTC) - timedelta(days=3)
    await old.save(update_fields=["created_at"])
    await api.gql(rename, {"i": {"organizationId": team.org_id, "name": "By Owner"}},
                  token=owner.token)

    by_action = await activity(api, owner.token, filter={"action": "ORGANIZATION_UPDATED"})
    assert by_action["totalCount"] == 2
    by_admin = await activity(api, owner.token, filter={"actorId": admin.id})
    assert [n["summary"]["name"][1] for n in by_admin["nodes"]] == ["By Admin"]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    recent = await activity(api, owner.token, filter={"since": since})
    assert {n["action"] for n in recent["nodes"]} == {"ORGANIZATION_UPDATED"}
    assert recent["totalCount"] == 2
    both = await activity(api, owner.token, filter={"actorId": owner.id, "since": since,
                                                    "action": "ORGANIZATION_UPDATED"})
    assert [n["summary"]["name"][1] for n in both["nodes"]] == ["By Owner"]
    nobody = await activity(api, owner.token, filter={"action": "LEAD_DELETED"})
    assert nobody == {"totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None},
                      "nodes": []}
    body = await api.gql(ACTIVITY, {"filter": {"action": "organization.updated"}},
                         token=owner.token)  # the stored spelling is not the enum's
    assert error_code(body) == "BAD_USER_INPUT"


async def test_members_and_viewers_cannot_read_the_log(api: Api, team: Team) -> None:
    for role in (Role.MEMBER, Role.VIEWER):
        body = await api.gql(ACTIVITY, token=team.people[role].token)
        assert error_code(body) == "FORBIDDEN"
        assert body["errors"][0]["extensions"]["permission"] == "activity:read"


async def test_a_refused_change_writes_no_event(api: Api, settings: Settings,
                                                team: Team) -> None:
    """CONFLICTs raised inside the change's transaction roll back with it."""
    owner = team.people[Role.OWNER]
    other = await signed_in(settings, "other@example.com")
    await api.gql("mutation { createOrganization(input: {name: \"G\", slug: \"globex\"}) { "
                  "organization { id } } }",
                  token=other.token)
    before = await snapshot()
    attempts = [
        ("mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { "
         "id } } }",
         {"i": {"organizationId": team.org_id, "name": "New", "slug": "globex"}}),
        ("mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { "
         "deletedId } }", {"id": team.org_id}),
        ("mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { membership { "
         "id } } }",
         {"i": {"membershipId": team.memberships[Role.OWNER], "role": "VIEWER"}}),
        ("mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { "
         "id } } }",
         {"i": {"name": "Dup", "slug": "acme"}}),
    ]
    for document, variables in attempts:
        body = await api.gql(document, variables, token=owner.token)
        assert error_code(body) == "CONFLICT", body
    assert await snapshot() == before


@pytest.mark.no_db
def test_events_are_append_only_through_the_api() -> None:
    mutations = schema._schema.mutation_type
    assert mutations is not None
    # recordClientEvents adds a first-party app's page views to the usage counts (docs/usage.md),
    # a table of its own: no mutation reaches the activity log's events.
    assert not [name for name in mutations.fields if name != "recordClientEvents"
                and ("activity" in name.lower() or "event" in name.lower())]
