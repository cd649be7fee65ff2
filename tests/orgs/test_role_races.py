"""Rules that hold one request at a time must hold for requests running at once: a token is
never minted, an invitation never sent, an org never left without an OWNER because another
request changed a role in between. Each test fires the requests together (asyncio.gather over
HTTP, several rounds) on PostgreSQL, where they really run concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest

from auth.permissions import ROLE_GRANTS
from models.orgs import Invitation, Membership, Role
from models.tokens import ApiToken
from tests.conftest import TEST_DB, Api, error_code
from tests.orgs.conftest import Team, gid
from tests.tokens.conftest import subscribe

pytestmark = pytest.mark.skipif(
    TEST_DB != "postgres",
    reason="SQLite runs one transaction at a time, so these races cannot happen there; the "
           "PostgreSQL leg runs them with real concurrency")

ROUNDS = 5
OFFSETS = (0, 0, 0.001, 0.002, 0.003, 0.004, 0.006, 0.008, 0.01, 0.012, 0.016, 0.02, 0.03)
CHANGE_ROLE = """mutation($id: ID!, $role: Role!) {
  updateMemberRole(input: {membershipId: $id, role: $role}) { membership { id role } }
}"""
TRANSFER = """mutation($org: ID!, $to: ID!) {
  transferOwnership(input: {organizationId: $org, membershipId: $to}) { organization { slug } }
}"""
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { apiToken { id scopes } }
}"""
INVITE = """mutation($i: InviteMemberInput!) {
  inviteMember(input: $i) { invitation { id email role } } }"""


async def set_role(team: Team, membership_gid: str, role: Role) -> None:
    rows = await Membership._scoped(team.org.id).values_list("id", flat=True)
    (row_id,) = [r for r in rows if gid("Membership", r) == membership_gid]
    await Membership._scoped(team.org.id).filter(id=row_id).update(role=role)


async def roles(team: Team) -> dict[str, Role]:
    rows = await Membership._scoped(team.org.id).values_list("id", "role")
    return {gid("Membership", row_id): role for row_id, role in rows}


async def later(delay: float, request: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """`request`, sent after `delay` seconds: the rounds of a race try several overlaps."""
    await asyncio.sleep(delay)
    return await request


def ok(body: dict[str, Any]) -> bool:
    return "errors" not in body


async def test_a_demotion_racing_a_token_creation_never_leaves_a_token_beyond_the_role(
        api: Api, team: Team) -> None:
    await subscribe(team.org)
    admin, owner = team.people[Role.ADMIN], team.people[Role.OWNER]
    membership = team.memberships[Role.ADMIN]
    for round_, delay in enumerate(OFFSETS):
        await set_role(team, membership, Role.ADMIN)
        await ApiToken._scoped(team.org.id).update(revoked_at=datetime.now(UTC))
        created, demoted = await asyncio.gather(
            later(delay, api.gql(CREATE_TOKEN, {"input": {
                "organizationId": team.org_id, "name": f"Sync {round_}",
                "scopes": ["org:read", "members:write"]}}, token=admin.token)),
            api.gql(CHANGE_ROLE, {"id": membership, "role": "MEMBER"}, token=owner.token))
        assert ok(demoted), demoted
        assert ok(created) or error_code(created) == "FORBIDDEN", created
        assert (await roles(team))[membership] is Role.MEMBER
        live = await ApiToken._scoped(team.org.id).filter(created_by_id=admin.user.id,
                                                         revoked_at__isnull=True)
        beyond = [t.scopes for t in live
                  if not {*t.scopes} <= {p.value for p in ROLE_GRANTS[Role.MEMBER]}]
        assert beyond == [], f"round {round_}: a MEMBER holds {beyond} ({created})"


async def test_a_transfer_racing_a_demotion_of_its_target_keeps_an_owner(
        api: Api, team: Team) -> None:
    owner = team.people[Role.OWNER]
    target = team.memberships[Role.ADMIN]
    for round_ in range(ROUNDS):
        await set_role(team, team.memberships[Role.OWNER], Role.OWNER)
        await set_role(team, target, Role.ADMIN)
        # The OWNER hands over to the ADMIN while the OWNER demotes that ADMIN to VIEWER.
        transferred, demoted = await asyncio.gather(
            api.gql(TRANSFER, {"org": team.org_id, "to": target}, token=owner.token),
            api.gql(CHANGE_ROLE, {"id": target, "role": "VIEWER"}, token=owner.token))
        now = await roles(team)
        owners = [m for m, role in now.items() if role is Role.OWNER]
        assert owners, f"round {round_}: no OWNER left ({transferred}, {demoted}, {now})"


async def test_concurrent_invitations_of_one_address_make_one(api: Api, team: Team) -> None:
    admin = team.people[Role.ADMIN]
    for round_ in range(ROUNDS):
        email = f"twin{round_}@example.com"
        bodies = await asyncio.gather(*(
            api.gql(INVITE, {"i": {"organizationId": team.org_id, "email": email,
                                   "role": "MEMBER"}}, token=admin.token)
            for _ in range(10)))
        assert sum(ok(b) for b in bodies) == 1, bodies
        assert {error_code(b) for b in bodies if not ok(b)} == {"CONFLICT"}, bodies
        pending = await Invitation._scoped(team.org.id).filter(email=email,
                                                              revoked_at__isnull=True)
        assert len(pending) == 1, f"round {round_}: {len(pending)} pending invitations"


async def test_a_demotion_racing_an_invitation_leaves_no_invitation_above_the_role(
        api: Api, team: Team) -> None:
    admin, owner = team.people[Role.ADMIN], team.people[Role.OWNER]
    membership = team.memberships[Role.ADMIN]
    for round_ in range(ROUNDS):
        await set_role(team, membership, Role.ADMIN)
        invited, demoted = await asyncio.gather(
            api.gql(INVITE, {"i": {"organizationId": team.org_id,
                                   "email": f"second{round_}@example.com", "role": "ADMIN"}},
                    token=admin.token),
            api.gql(CHANGE_ROLE, {"id": membership, "role": "MEMBER"}, token=owner.token))
        assert ok(demoted), demoted
        pending = await Invitation._scoped(team.org.id).filter(
            invited_by_id=admin.user.id, accepted_at__isnull=True, revoked_at__isnull=True)
        assert pending == [], f"round {round_}: a MEMBER's invitation is pending ({invited})"
