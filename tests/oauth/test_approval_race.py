"""An approval racing the approver's demotion: the approval decides on the role the approver has
when it writes its code, so either it comes first (and the demotion that follows ends what it
gave, as it ends the approver's grants) or it sees the new role and is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from models.activity import ActivityEvent
from models.orgs import Membership, Role
from tests.conftest import TEST_DB, Api, error_code
from tests.oauth.conftest import APPROVE, Person, register, request_input
from tests.orgs.conftest import Team
from tests.orgs.test_role_races import OFFSETS, later, ok

CHANGE_ROLE = """mutation($id: ID!, $role: Role!) {
  updateMemberRole(input: {membershipId: $id, role: $role}) { membership { id role } }
}"""


@pytest.mark.skipif(TEST_DB != "postgres",
                    reason="SQLite runs one transaction at a time, so the race cannot happen "
                           "there; the PostgreSQL leg runs it with real concurrency")
async def test_an_approval_racing_a_demotion_comes_first_or_is_refused(
        api: Api, team: Team, partner: Person) -> None:
    app = await register(api, partner, scopes=["org:read", "members:write"])
    admin, owner = team.people[Role.ADMIN], team.people[Role.OWNER]
    for round_, delay in enumerate(OFFSETS):
        await Membership._scoped(team.org.id).filter(user_id=admin.user.id) \
            .update(role=Role.ADMIN)
        start = datetime.now(UTC)
        approved, demoted = await asyncio.gather(
            later(delay, api.gql(APPROVE, {"input": request_input(
                app, team, scope="org:read members:write")}, token=admin.token)),
            api.gql(CHANGE_ROLE, {"id": team.memberships[Role.ADMIN], "role": "MEMBER"},
                    token=owner.token))
        assert ok(demoted), demoted
        if not ok(approved):
            assert error_code(approved) == "FORBIDDEN", approved
            continue
        events = await ActivityEvent._scoped(team.org.id).filter(
            created_at__gte=start,
            action__in=["oauth_app.authorized", "member.role_changed"]) \
            .order_by("created_at", "id").values_list("action", flat=True)
        assert list(events) == ["oauth_app.authorized", "member.role_changed"], \
            f"round {round_}: a MEMBER approved members:write ({events})"
