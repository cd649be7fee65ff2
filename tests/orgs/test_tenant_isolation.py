"""Two orgs with the same data: nothing one does reaches the other's rows.

Members of `alpha`, whatever their role, aim every query, connection, node lookup, filter and
mutation at `bravo`'s ids and slug. Each answer is NOT_FOUND, exactly as for an id that never
existed (never FORBIDDEN, which would confirm the row exists), and the database is unchanged.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from auth.access import Access
from auth.permissions import Permission
from core.errors import NotFound
from core.settings import Settings
from models.activity import ActivityEvent
from models.orgs import Invitation, Membership, Organization, Role
from models.tenancy import UnscopedQuery
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team, add_invitation, gid, make_team, snapshot


async def _with_invitation(team: Team) -> str:
    invitation = await add_invitation(team, "same.invitee@example.com", Role.MEMBER)
    return gid("Invitation", invitation.id)


@pytest.fixture
async def orgs(api: Api, settings: Settings) -> tuple[Team, Team, dict[str, str]]:
    """`alpha` and `bravo`: same shape, same invitee, same activity. Returns bravo's ids."""
    alpha = await make_team(api, settings, "alpha", prefix="a.")
    bravo = await make_team(api, settings, "bravo", prefix="b.")
    await _with_invitation(alpha)
    bravo_ids = {"org": bravo.org_id, "invitation": await _with_invitation(bravo),
                 "owner_membership": bravo.memberships[Role.OWNER],
                 "viewer_membership": bravo.memberships[Role.VIEWER],
                 "owner_user": bravo.people[Role.OWNER].id}
    return alpha, bravo, bravo_ids


def _random(type_name: str) -> str:
    return gid(type_name, uuid.uuid4())


def _refusal(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (error,) = errors_of(body)
    return error["message"], error["extensions"]


# (label, document, variables given bravo's ids and alpha's) for every org operation.
ATTEMPTS: list[tuple[str, str, Any]] = [
    ("organization by slug", 'query($s: String!) { organization(slug: $s) { id } }',
     lambda b, a: {"s": "bravo"}, lambda: {"s": "charlie"}),
    ("node: org", "query($id: ID!) { node(id: $id) { id } }",
     lambda b, a: {"id": b["org"]}, lambda: {"id": _random("Organization")}),
    ("node: membership", "query($id: ID!) { node(id: $id) { id } }",
     lambda b, a: {"id": b["owner_membership"]}, lambda: {"id": _random("Membership")}),
    ("node: invitation", "query($id: ID!) { node(id: $id) { id } }",
     lambda b, a: {"id": b["invitation"]}, lambda: {"id": _random("Invitation")}),
    ("node: user", "query($id: ID!) { node(id: $id) { id } }",
     lambda b, a: {"id": b["owner_user"]}, lambda: {"id": _random("User")}),
    ("updateOrganization",
     "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { "
     "id } } }",
     lambda b, a: {"i": {"organizationId": b["org"], "name": "Pwned", "slug": "pwned"}},
     lambda: {"i": {"organizationId": _random("Organization"), "name": "Pwned"}}),
    ("inviteMember", "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { invitation { "
                     "id } } }",
     lambda b, a: {"i": {"organizationId": b["org"], "email": "spy@example.com",
                         "role": "VIEWER"}},
     lambda: {"i": {"organizationId": _random("Organization"), "email": "spy@example.com",
                    "role": "VIEWER"}}),
    ("resendInvitation", "mutation($id: ID!) { resendInvitation(input: {id: $id}) { invitation { "
                         "id } } }",
     lambda b, a: {"id": b["invitation"]}, lambda: {"id": _random("Invitation")}),
    ("revokeInvitation", "mutation($id: ID!) { revokeInvitation(input: {id: $id}) { invitation { "
                         "id } } }",
     lambda b, a: {"id": b["invitation"]}, lambda: {"id": _random("Invitation")}),
    ("updateMemberRole",
     "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { membership { id } } }",
     lambda b, a: {"i": {"membershipId": b["owner_membership"], "role": "VIEWER"}},
     lambda: {"i": {"membershipId": _random("Membership"), "role": "VIEWER"}}),
    ("removeMember", "mutation($id: ID!) { removeMember(input: {membershipId: $id}) { "
                     "deletedId } }",
     lambda b, a: {"id": b["viewer_membership"]}, lambda: {"id": _random("Membership")}),
    ("leaveOrganization", "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { "
                          "deletedId } }",
     lambda b, a: {"id": b["org"]}, lambda: {"id": _random("Organization")}),
    ("transferOwnership to another org's member",
     "mutation($i: TransferOwnershipInput!) { transferOwnership(input: $i) { organization { "
     "id } } }",
     lambda b, a: {"i": {"organizationId": a.org_id, "membershipId": b["viewer_membership"]}},
     lambda a: {"i": {"organizationId": a.org_id, "membershipId": _random("Membership")}}),
    ("transferOwnership of another org",
     "mutation($i: TransferOwnershipInput!) { transferOwnership(input: $i) { organization { "
     "id } } }",
     lambda b, a: {"i": {"organizationId": b["org"],
                         "membershipId": a.memberships[Role.VIEWER]}},
     lambda a: {"i": {"organizationId": _random("Organization"),
                      "membershipId": a.memberships[Role.VIEWER]}}),
]


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.name)
async def test_nothing_reaches_the_other_org(api: Api, orgs: tuple[Team, Team, dict[str, str]],
                                             role: Role) -> None:
    alpha, _, bravo_ids = orgs
    token = alpha.people[role].token
    before = await snapshot()
    for label, document, aimed, missing in ATTEMPTS:
        body = await api.gql(document, aimed(bravo_ids, alpha), token=token)
        args = (alpha,) if missing.__code__.co_argcount else ()
        control = await api.gql(document, missing(*args), token=token)
        assert _refusal(body) == _refusal(control), label
        if label == "transferOwnership to another org's member" and role is not Role.OWNER:
            # Refused `ownership:transfer` in their own org before any member is looked up:
            # the same answer as for a member id that never existed.
            assert error_code(body) == "FORBIDDEN", (label, body)
        else:
            assert error_code(body) == "NOT_FOUND", (label, body)
    assert await snapshot() == before


LISTS = """query($slug: String!, $actor: ID!) { organization(slug: $slug) {
  members(first: 100) { totalCount nodes { id user { email } } }
  invitations(first: 100) { totalCount nodes { id email } }
  activity(first: 100) { totalCount nodes { id actor { email } } }
  byOther: activity(first: 100, filter: {actorId: $actor}) { totalCount nodes { id } }
  created: activity(first: 100, filter: {action: ORGANIZATION_CREATED}) { totalCount }
} }"""


async def test_connections_and_filters_hold_only_the_own_org(
        api: Api, orgs: tuple[Team, Team, dict[str, str]]) -> None:
    alpha, bravo, bravo_ids = orgs
    body = await api.gql(LISTS, {"slug": "alpha", "actor": bravo_ids["owner_user"]},
                         token=alpha.people[Role.OWNER].token)
    assert "errors" not in body, body
    org = body["data"]["organization"]
    alpha_emails = {p.email for p in alpha.people.values()}
    assert org["members"]["totalCount"] == 4
    assert {n["user"]["email"] for n in org["members"]["nodes"]} == alpha_emails
    assert set(alpha.memberships.values()) == {n["id"] for n in org["members"]["nodes"]}
    assert org["invitations"]["totalCount"] == 1
    (invitation,) = org["invitations"]["nodes"]
    assert invitation["id"] != bravo_ids["invitation"]
    assert {n["actor"]["email"] for n in org["activity"]["nodes"]} <= alpha_emails
    assert org["activity"]["totalCount"] == await ActivityEvent._scoped(alpha.org.id).count()
    assert org["byOther"] == {"totalCount": 0, "nodes": []}
    assert org["created"]["totalCount"] == 1

    body = await api.gql("{ me { memberships { nodes { organization { slug } } } } }",
                         token=alpha.people[Role.OWNER].token)
    assert body["data"]["me"]["memberships"]["nodes"] == [{"organization": {"slug": "alpha"}}]
    assert bravo.slug == "bravo"


async def test_a_member_of_both_orgs_sees_each_org_apart(
        api: Api, orgs: tuple[Team, Team, dict[str, str]]) -> None:
    alpha, bravo, _ = orgs
    commuter = alpha.people[Role.MEMBER]
    await Membership.create(organization=bravo.org, user=commuter.user, role=Role.VIEWER)
    query = """query($slug: String!) { organization(slug: $slug) { viewerRole
        members(first: 100) { nodes { user { email } } } } }"""
    for team, role in ((alpha, "MEMBER"), (bravo, "VIEWER")):
        body = await api.gql(query, {"slug": team.slug}, token=commuter.token)
        org = body["data"]["organization"]
        assert org["viewerRole"] == role
        emails = {n["user"]["email"] for n in org["members"]["nodes"]}
        assert emails == {p.email for p in team.people.values()} | {commuter.email}
    # A VIEWER in bravo, so bravo's invitations stay closed to them: FORBIDDEN there, since
    # they are a member and know the org exists.
    body = await api.gql(
        '{ organization(slug: "bravo") { invitations(first: 5) { totalCount } } }',
        token=commuter.token)
    assert error_code(body) == "FORBIDDEN"


@pytest.mark.no_db
@pytest.mark.parametrize(("model", "method", "args"), [
    (Membership, "filter", {"role": Role.OWNER}),
    (Membership, "all", {}),
    (Membership, "get", {"id": uuid.uuid4()}),
    (Membership, "get_or_none", {"id": uuid.uuid4()}),
    (Membership, "exclude", {"role": Role.OWNER}),
    (Invitation, "filter", {"email": "x@example.com"}),
    (Invitation, "first", {}),
    (ActivityEvent, "all", {}),
    (ActivityEvent, "exists", {}),
    (ActivityEvent, "get_or_create", {"action": "x"}),
])
def test_org_owned_models_refuse_unscoped_queries(model: Any, method: str,
                                                  args: dict[str, Any]) -> None:
    with pytest.raises(UnscopedQuery, match=f"{model.__name__}.{method}"):
        getattr(model, method)(**args)


async def test_access_scope_refuses_orgs_not_checked(
        orgs: tuple[Team, Team, dict[str, str]]) -> None:
    alpha, bravo, _ = orgs
    access = Access(alpha.people[Role.OWNER].user.id)
    with pytest.raises(NotFound):
        access.scoped(Membership, alpha.org.id)  # not checked yet
    await access.require(alpha.org.id, Permission.ORG_READ)
    assert await access.scoped(Membership, alpha.org.id).count() == 4
    with pytest.raises(NotFound):
        access.scoped(Membership, [alpha.org.id, bravo.org.id])
    with pytest.raises(NotFound):
        await access.require(bravo.org.id, Permission.ORG_READ)
    assert await Organization.all().count() == 2
