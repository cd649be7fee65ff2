"""The permission matrix, walked over HTTP for every role and every guarded org operation.

The expectation for each (role, operation) comes from `auth/permissions.ROLE_GRANTS`, the table
the README prints (`scripts/permission_matrix.py`): an operation is allowed exactly when the role
grants its permission, and refused with FORBIDDEN naming that permission otherwise. Each operation
targets someone ranked below every role that may run it (a VIEWER) and the org has a second
OWNER, so rank rules and the last-OWNER rule never blur a permission check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from strawberry.permission import PermissionExtension

from auth.permissions import ROLE_GRANTS, Permission
from core.settings import Settings
from engine.permissions import HasPermission
from models.orgs import Role
from schema.composition import Organization as OrganizationType
from schema.members import MemberMutations
from schema.orgs import OrgMutations, OrgQueries
from scripts.permission_matrix import DENIED, GRANTED, render
from tests.conftest import Api, errors_of
from tests.orgs.conftest import Team, add_invitation, add_member, gid, make_team, snapshot


@dataclass
class Org:
    """The team of the walk, with a second OWNER, a VIEWER to act on and two invitations."""

    team: Team
    target: str  # membership global id of a VIEWER
    invitations: list[str]


Run = Callable[[Api, str, Org], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Operation:
    field: str  # the guarded schema field: "Type.field"
    permission: Permission
    run: Run


def _reader(selection: str) -> Run:
    async def run(api: Api, token: str, org: Org) -> dict[str, Any]:
        return await api.gql(f'{{ organization(slug: "{org.team.slug}") {{ {selection} }} }}',
                             token=token)
    return run


def _mutation(document: str, variables: Callable[[Org], dict[str, Any]]) -> Run:
    async def run(api: Api, token: str, org: Org) -> dict[str, Any]:
        return await api.gql(document, variables(org), token=token)
    return run


OPERATIONS: dict[str, Operation] = {
    "view creation date": Operation("Organization.createdAt", Permission.ORG_READ,
                                    _reader("createdAt")),
    "view own role": Operation("Organization.viewerRole", Permission.ORG_READ,
                               _reader("viewerRole")),
    "view own permissions": Operation("Organization.viewerPermissions", Permission.ORG_READ,
                                      _reader("viewerPermissions")),
    "members list": Operation("Organization.members", Permission.MEMBERS_READ,
                              _reader("members(first: 10) { totalCount }")),
    "invitations list": Operation("Organization.invitations", Permission.MEMBERS_INVITE,
                                  _reader("invitations(first: 10) { totalCount }")),
    "activity": Operation("Organization.activity", Permission.ACTIVITY_READ,
                          _reader("activity(first: 10) { totalCount }")),
    "rename": Operation("Mutation.updateOrganization", Permission.ORG_WRITE, _mutation(
        "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { "
        "name } } }",
        lambda o: {"i": {"organizationId": o.team.org_id, "name": "Renamed"}})),
    "invite": Operation("Mutation.inviteMember", Permission.MEMBERS_INVITE, _mutation(
        "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { invitation { email } } }",
        lambda o: {"i": {"organizationId": o.team.org_id, "email": "new@example.com",
                         "role": "VIEWER"}})),
    "resend": Operation("Mutation.resendInvitation", Permission.MEMBERS_INVITE, _mutation(
        "mutation($id: ID!) { resendInvitation(input: {id: $id}) { invitation { email } } }",
        lambda o: {"id": o.invitations[0]})),
    "revoke": Operation("Mutation.revokeInvitation", Permission.MEMBERS_INVITE, _mutation(
        "mutation($id: ID!) { revokeInvitation(input: {id: $id}) { invitation { email } } }",
        lambda o: {"id": o.invitations[1]})),
    "change role": Operation("Mutation.updateMemberRole", Permission.MEMBERS_WRITE, _mutation(
        "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { membership { "
        "role } } }",
        lambda o: {"i": {"membershipId": o.target, "role": "MEMBER"}})),
    "remove member": Operation("Mutation.removeMember", Permission.MEMBERS_WRITE, _mutation(
        "mutation($id: ID!) { removeMember(input: {membershipId: $id}) { deletedId } }",
        lambda o: {"id": o.target})),
    "transfer ownership": Operation(
        "Mutation.transferOwnership", Permission.OWNERSHIP_TRANSFER, _mutation(
            "mutation($i: TransferOwnershipInput!) { transferOwnership(input: $i) { organization { "
            "slug } } }",
            lambda o: {"i": {"organizationId": o.team.org_id, "membershipId": o.target}})),
    "leave": Operation("Mutation.leaveOrganization", Permission.ORG_READ, _mutation(
        "mutation($id: ID!) { leaveOrganization(input: {organizationId: $id}) { deletedId } }",
        lambda o: {"id": o.team.org_id})),
}


async def matrix_org(api: Api, settings: Settings) -> Org:
    team = await make_team(api, settings, "matrix")
    await add_member(settings, team, "co-owner@example.com", Role.OWNER, "Co Owner")
    _, target = await add_member(settings, team, "target@example.com", Role.VIEWER, "Tara Get")
    invitations = []
    for n in range(2):
        invitation = await add_invitation(team, f"invited{n}@example.com")
        invitations.append(gid("Invitation", invitation.id))
    return Org(team=team, target=target, invitations=invitations)


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.name)
async def test_role_may_run_operation_exactly_when_its_grants_say_so(
        api: Api, settings: Settings, role: Role, operation: str) -> None:
    org = await matrix_org(api, settings)
    op = OPERATIONS[operation]
    before = await snapshot()
    body = await op.run(api, org.team.people[role].token, org)
    if op.permission in ROLE_GRANTS[role]:
        assert "errors" not in body, f"{role.name} may {operation}: {body}"
        assert body["data"] and all(value is not None for value in body["data"].values())
    else:
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": op.permission.value}, \
            f"{role.name} may not {operation}: {body}"
        assert f"`{op.permission.value}`" in error["message"]
        assert role.name in error["message"]
        assert await snapshot() == before  # a refusal changes nothing


def _declared_permission(type_: Any, name: str) -> Permission | None:
    for field in type_.__strawberry_definition__.fields:
        if field.graphql_name == name or field.python_name == _snake(name):
            for extension in field.extensions:
                if isinstance(extension, PermissionExtension):
                    for permission in extension.permissions:
                        if isinstance(permission, HasPermission):
                            return permission.permission
            return None
    raise AssertionError(f"no field {name} on {type_}")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


@pytest.mark.no_db
def test_each_operation_names_the_permission_its_field_declares() -> None:
    owners = {"Query": [OrgQueries], "Mutation": [OrgMutations, MemberMutations],
              "Organization": [OrganizationType]}
    for label, op in OPERATIONS.items():
        type_name, field = op.field.split(".")
        declared = {_declared_permission(t, field) for t in owners[type_name]
                    if any(f.python_name == _snake(field)
                           for f in t.__strawberry_definition__.fields)}
        assert declared == {op.permission}, label


@pytest.mark.no_db
def test_every_permission_guarded_org_field_is_walked() -> None:
    """A new guarded field on an org type or mutation must join the walk above."""
    walked = {op.field for op in OPERATIONS.values()}
    for type_name, types in {"Query": [OrgQueries], "Mutation": [OrgMutations, MemberMutations],
                             "Organization": [OrganizationType]}.items():
        for type_ in types:
            for field in type_.__strawberry_definition__.fields:
                name = field.graphql_name or _camel(field.python_name)
                permission = _declared_permission(type_, name)
                if permission is None or permission.value.split(":")[0] not in {
                        "org", "members", "ownership", "activity"}:
                    continue  # unguarded, or another domain's field (leads walk their own)
                assert f"{type_name}.{name}" in walked, f"{type_name}.{name} is not walked"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@pytest.mark.no_db
def test_the_printed_matrix_is_the_grant_table() -> None:
    lines = render().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[2:] == ["OWNER", "ADMIN", "MEMBER", "VIEWER"]
    rows = {line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[3:-1]]
            for line in lines[2:]}
    assert set(rows) == {p.value for p in Permission}
    for permission in Permission:
        expected = [GRANTED if permission in ROLE_GRANTS[Role[name]] else DENIED
                    for name in header[2:]]
        assert rows[permission.value] == expected, permission
