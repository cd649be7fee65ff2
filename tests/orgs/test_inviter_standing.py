"""Pending invitations act with their sender's standing, as API tokens do: when the sender is
removed or leaves, every invitation they sent ends; when they are demoted, those for a role
above the new one end, and all of them when the new role may not invite at all. Each ends in the
activity log with its reason, and its link is refused as revoked. Revoking an invitation follows
the rank rules of sending one."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from models.activity import ActivityEvent
from models.orgs import Invitation, Role
from tests.conftest import Api, errors_of
from tests.orgs.conftest import Team, add_member, gid
from tests.orgs.test_invitations import ACCEPT, REVOKE, invitation_mail, invite
from tests.smtp import Inbox, token_in

CHANGE_ROLE = """mutation($id: ID!, $role: Role!) {
  updateMemberRole(input: {membershipId: $id, role: $role}) { membership { id role } }
}"""
REMOVE = "mutation($id: ID!) { removeMember(input: {membershipId: $id}) { deletedId } }"
LEAVE = "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { deletedId } }"
TRANSFER = """mutation($org: ID!, $to: ID!) {
  transferOwnership(input: {organizationId: $org, membershipId: $to}) { organization { slug } }
}"""


async def sent(api: Api, team: Team, inbox: Inbox, email: str, role: str,
               by: Role = Role.ADMIN) -> str:
    """Invite `email` as `by`; the token from the mail."""
    body = await invite(api, team, email, role, by=by)
    assert "errors" not in body, body
    return token_in(invitation_mail(inbox, email)[-1], "invitations/accept")


async def pending(team: Team) -> set[str]:
    return set(await Invitation._scoped(team.org.id).filter(
        accepted_at__isnull=True, revoked_at__isnull=True).values_list("email", flat=True))


async def ended(team: Team) -> list[tuple[str | None, Any]]:
    events = await ActivityEvent._scoped(team.org.id).filter(action="invitation.revoked") \
        .order_by("created_at", "id")
    by_id = dict(await Invitation._scoped(team.org.id).values_list("id", "email"))
    return sorted((by_id.get(e.target_id), e.summary.get("reason")) for e in events)


async def test_a_removed_admin_cannot_walk_back_in_through_their_own_invitation(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    token = await sent(api, team, inbox, "adam.second@example.com", "ADMIN")
    await sent(api, team, inbox, "guest@example.com", "VIEWER")
    await sent(api, team, inbox, "owners.guest@example.com", "MEMBER", by=Role.OWNER)
    body = await api.gql(REMOVE, {"id": team.memberships[Role.ADMIN]},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    assert await pending(team) == {"owners.guest@example.com"}
    assert await ended(team) == [("adam.second@example.com", "creator_removed"),
                                 ("guest@example.com", "creator_removed")]
    second = (await add_member(settings, team, "adam.second@example.com", Role.VIEWER))[0]
    body = await api.gql(ACCEPT, {"t": token}, token=second.token)
    (error,) = errors_of(body)
    assert error["extensions"]["reason"] == "INVITATION_REVOKED", body


async def test_leaving_ends_the_invitations_you_sent(api: Api, team: Team,
                                                    inbox: Inbox) -> None:
    await sent(api, team, inbox, "friend@example.com", "MEMBER")
    body = await api.gql(LEAVE, {"id": team.org_id}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body
    assert await pending(team) == set()
    assert await ended(team) == [("friend@example.com", "creator_left")]


async def test_a_demotion_ends_invitations_the_new_role_could_not_send(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    co, _ = await add_member(settings, team, "co@example.com", Role.OWNER)
    await sent(api, team, inbox, "new.owner@example.com", "OWNER", by=Role.OWNER)
    await sent(api, team, inbox, "new.admin@example.com", "ADMIN", by=Role.OWNER)
    await sent(api, team, inbox, "by.admin@example.com", "ADMIN")
    await sent(api, team, inbox, "viewer.by.admin@example.com", "VIEWER")
    # The OWNER becomes an ADMIN: the OWNER invitation ends, the ADMIN one stays.
    body = await api.gql(CHANGE_ROLE, {"id": team.memberships[Role.OWNER], "role": "ADMIN"},
                         token=co.token)
    assert "errors" not in body, body
    assert await ended(team) == [("new.owner@example.com", "creator_demoted")]
    # The ADMIN becomes a MEMBER, who may not invite at all: all they sent ends.
    body = await api.gql(CHANGE_ROLE, {"id": team.memberships[Role.ADMIN], "role": "MEMBER"},
                         token=co.token)
    assert "errors" not in body, body
    assert await pending(team) == {"new.admin@example.com"}
    assert await ended(team) == [("by.admin@example.com", "creator_demoted"),
                                 ("new.owner@example.com", "creator_demoted"),
                                 ("viewer.by.admin@example.com", "creator_demoted")]


async def test_handing_over_ownership_ends_your_owner_invitations(
        api: Api, team: Team, inbox: Inbox) -> None:
    await sent(api, team, inbox, "new.owner@example.com", "OWNER", by=Role.OWNER)
    await sent(api, team, inbox, "new.admin@example.com", "ADMIN", by=Role.OWNER)
    body = await api.gql(TRANSFER, {"org": team.org_id, "to": team.memberships[Role.ADMIN]},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    assert await pending(team) == {"new.admin@example.com"}
    assert await ended(team) == [("new.owner@example.com", "creator_demoted")]


async def test_an_admin_cannot_revoke_an_invitation_for_a_role_above_their_own(
        api: Api, team: Team, inbox: Inbox) -> None:
    await sent(api, team, inbox, "new.owner@example.com", "OWNER", by=Role.OWNER)
    await sent(api, team, inbox, "new.admin@example.com", "ADMIN", by=Role.OWNER)
    rows = dict(await Invitation._scoped(team.org.id).values_list("email", "id"))
    admin = team.people[Role.ADMIN].token
    body = await api.gql(REVOKE, {"id": gid("Invitation", rows["new.owner@example.com"])},
                         token=admin)
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["reason"] == "ROLE_ABOVE_OWN"
    assert "OWNER" in error["message"]
    assert await pending(team) == {"new.owner@example.com", "new.admin@example.com"}
    # Their own rank is fine, and the OWNER may revoke either.
    body = await api.gql(REVOKE, {"id": gid("Invitation", rows["new.admin@example.com"])},
                         token=admin)
    assert "errors" not in body, body
    body = await api.gql(REVOKE, {"id": gid("Invitation", rows["new.owner@example.com"])},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    assert await pending(team) == set()
