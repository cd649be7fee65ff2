"""`membershipEvents`: the signed-in user's own memberships, across processes."""

from __future__ import annotations

from redis.asyncio import Redis

from core.settings import Settings
from models.orgs import Membership, Role
from tests.orgs.conftest import Team, gid, signed_in
from tests.realtime.conftest import Server, bearer, socket, wait_subscribed
from tests.realtime.helpers import MEMBERSHIP_EVENTS, REMOVE_MEMBER, UPDATE_ROLE

INVITE = ("mutation($input: InviteMemberInput!) { inviteMember(input: $input) { invitation { "
          "id } } }")


async def test_invited_role_changed_and_removed_reach_the_person(
        servers: tuple[Server, Server], redis: Redis, team: Team, settings: Settings) -> None:
    first, second = servers
    admin = team.people[Role.ADMIN]
    newcomer = await signed_in(settings, "newcomer@example.com", "Nina Newcomer")
    async with socket(first) as ws, socket(first) as bystander:
        await ws.init(bearer(newcomer.token))
        await ws.subscribe(MEMBERSHIP_EVENTS)
        await wait_subscribed(redis, f"user:{newcomer.user.id}")
        await bystander.init(bearer(team.people[Role.MEMBER].token))
        await bystander.subscribe(MEMBERSHIP_EVENTS)
        await wait_subscribed(redis, f"user:{team.people[Role.MEMBER].user.id}")

        body = await second.gql(INVITE, {"input": {"organizationId": team.org_id,
                                                   "email": newcomer.email, "role": "MEMBER"}},
                                token=admin.token)
        assert "errors" not in body, body
        invited = (await ws.next())["data"]["membershipEvents"]
        assert invited == {"type": "INVITED", "organizationId": team.org_id, "role": "MEMBER",
                           "membership": None}

        # Joined: written directly (accepting needs the mailed token), then changed over HTTP.
        membership = await Membership.create(organization=team.org, user=newcomer.user,
                                             role=Role.MEMBER)
        membership_id = gid("Membership", membership.id)
        body = await second.gql(UPDATE_ROLE, {"input": {"membershipId": membership_id,
                                                        "role": "VIEWER"}}, token=admin.token)
        assert "errors" not in body, body
        changed = (await ws.next())["data"]["membershipEvents"]
        assert changed == {"type": "ROLE_CHANGED", "organizationId": team.org_id,
                           "role": "VIEWER", "membership": {"id": membership_id,
                                                            "role": "VIEWER"}}

        body = await second.gql(REMOVE_MEMBER, {"id": membership_id}, token=admin.token)
        assert "errors" not in body, body
        removed = (await ws.next())["data"]["membershipEvents"]
        assert removed == {"type": "REMOVED", "organizationId": team.org_id, "role": None,
                           "membership": None}
        await bystander.nothing()
