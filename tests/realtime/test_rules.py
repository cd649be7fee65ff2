"""Who receives what: filters, permissions re-checked at delivery, token scopes, tenants."""

from __future__ import annotations

import base64

import orjson
from redis.asyncio import Redis

from models.orgs import Role
from tests.orgs.conftest import Team, gid
from tests.realtime.conftest import (
    BUFFER,
    PREFIX,
    Server,
    bearer,
    socket,
    wait_subscribed,
)
from tests.realtime.helpers import (
    ACTIVITY,
    LEAD_EVENTS,
    MEMBERSHIP_EVENTS,
    REMOVE_MEMBER,
    UPDATE_LEAD,
    UPDATE_ROLE,
    create_lead,
)
from tests.tokens.conftest import make_token


def topic(team: Team) -> str:
    return f"org:{team.org.id}"


async def test_filters_by_type_and_owner(servers: tuple[Server, Server], redis: Redis,
                                         team: Team) -> None:
    first, second = servers
    member, admin = team.people[Role.MEMBER], team.people[Role.ADMIN]
    async with socket(first) as by_type, socket(second) as by_owner:
        await by_type.init(bearer(member.token))
        await by_owner.init(bearer(member.token))
        await by_type.subscribe(LEAD_EVENTS, {"org": team.org_id,
                                              "filter": {"types": ["STATUS_CHANGED"]}})
        await by_owner.subscribe(LEAD_EVENTS, {"org": team.org_id,
                                               "filter": {"ownerId": admin.id}})
        await wait_subscribed(redis, topic(team), processes=2)

        mine = await create_lead(first, team, "Admin's", ownerId=admin.id)
        await create_lead(first, team, "Unowned")
        body = await first.gql(UPDATE_LEAD, {"input": {"id": mine, "status": "QUALIFIED"}},
                               token=member.token)
        assert "errors" not in body, body

        seen = [(await by_owner.next())["data"]["leadEvents"] for _ in range(3)]
        assert [(e["type"], e["lead"]["name"]) for e in seen] == [
            ("CREATED", "Admin's"), ("UPDATED", "Admin's"), ("STATUS_CHANGED", "Admin's")]
        status = (await by_type.next())["data"]["leadEvents"]
        assert (status["type"], status["lead"]["status"]) == ("STATUS_CHANGED", "QUALIFIED")
        await by_type.nothing()
        await by_owner.nothing()


async def test_a_demoted_admin_s_activity_stream_ends_at_once(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, second = servers
    admin, owner = team.people[Role.ADMIN], team.people[Role.OWNER]
    async with socket(first) as ws:
        await ws.init(bearer(admin.token))
        await ws.subscribe(ACTIVITY, {"org": team.org_id})
        await wait_subscribed(redis, topic(team))
        await create_lead(second, team, "Seen")
        event = (await ws.next())["data"]["activity"]
        assert (event["action"], event["targetType"]) == ("LEAD_CREATED", "lead")
        assert event["actor"] == {"id": team.people[Role.MEMBER].id}

        body = await second.gql(UPDATE_ROLE, {"input": {
            "membershipId": team.memberships[Role.ADMIN], "role": "MEMBER"}}, token=owner.token)
        assert "errors" not in body, body
        error = await ws.ended()
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["extensions"]["reason"] == "PERMISSION_REVOKED"
        assert "activity:read" in error["message"] and "ended" in error["message"]


async def test_a_removed_member_s_lead_stream_ends_and_hears_nothing_more(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, second = servers
    async with socket(first) as ws:
        await ws.init(bearer(team.people[Role.VIEWER].token))
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
        await wait_subscribed(redis, topic(team))
        body = await second.gql(REMOVE_MEMBER, {"id": team.memberships[Role.VIEWER]},
                                token=team.people[Role.ADMIN].token)
        assert "errors" not in body, body
        error = await ws.ended()
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["extensions"]["reason"] == "MEMBERSHIP_ENDED"
        await create_lead(second, team, "After removal")
        await ws.nothing()


async def test_an_ended_session_closes_the_socket(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, second = servers
    viewer = team.people[Role.VIEWER]
    async with socket(first) as ws:
        await ws.init(bearer(viewer.token))
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
        await wait_subscribed(redis, topic(team))
        assert "errors" not in await second.gql("mutation { logOut { endedSessionId } }",
                                                token=viewer.token)
        await create_lead(second, team, "Not for them")
        code, reason = await ws.closed_ending()  # the socket closes with its credential
        assert code == 4401 and "session has ended" in reason


async def test_api_tokens_get_what_their_scopes_allow(servers: tuple[Server, Server],
                                                      redis: Redis, team: Team) -> None:
    first, second = servers
    token = await make_token(team, ["leads:read"])
    async with socket(first) as ws:
        await ws.init({"token": token.secret})
        await ws.subscribe(ACTIVITY, {"org": team.org_id}, id="activity")
        refused = await ws.next("activity")
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert refused["errors"][0]["extensions"]["scope"] == "activity:read"
        await ws.subscribe(MEMBERSHIP_EVENTS, id="memberships")
        refused = await ws.next("memberships")
        assert refused["errors"][0]["extensions"]["reason"] == "PERSON_ONLY"

        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        await wait_subscribed(redis, topic(team))
        await create_lead(second, team, "For the token")
        event = await ws.next("leads")
        assert event["data"]["leadEvents"]["lead"]["name"] == "For the token"

        body = await second.gql("mutation($id: ID!) { revokeApiToken(input: {id: $id}) { "
                                "apiToken { id } } }",
                                {"id": gid("ApiToken", token.row.id)},
                                token=team.people[Role.ADMIN].token)
        assert "errors" not in body, body
        code, reason = await ws.closed_ending("leads")
        assert code == 4401 and "revoked" in reason


async def test_another_org_is_not_found_and_its_events_never_arrive(
        servers: tuple[Server, Server], redis: Redis, team: Team, rival: Team) -> None:
    first, second = servers
    outsider = rival.people[Role.OWNER]
    async with socket(first) as ws:
        await ws.init(bearer(outsider.token))
        for n, query in enumerate((LEAD_EVENTS, ACTIVITY)):
            await ws.subscribe(query, {"org": team.org_id}, id=str(n))
            refused = await ws.next(str(n))
            assert refused.get("data") is None
            assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        # Their own org's stream never carries the other org's events, even one put on the
        # wrong channel.
        await ws.subscribe(LEAD_EVENTS, {"org": rival.org_id}, id="own")
        await wait_subscribed(redis, topic(rival))
        await create_lead(second, team, "Not theirs")
        lead_id = await create_lead(second, team, "Forged")
        forged = _message(team, lead_id)
        await redis.publish(PREFIX + topic(rival), orjson.dumps(forged))
        await ws.nothing(wait=1)


def _message(team: Team, lead_id: str) -> dict[str, object]:
    raw = base64.b64decode(lead_id).decode().split(":", 1)[1]
    return {"id": "00000000-0000-0000-0000-000000000000", "organizationId": str(team.org.id),
            "action": "lead.created", "targetType": "lead", "targetId": raw, "summary": {},
            "actorId": None, "apiTokenId": None, "ip": None, "userAgent": None,
            "createdAt": "2026-11-25T00:00:00+00:00", "extra": {}, "committedAt": 0}


async def test_a_subscriber_that_falls_behind_is_ended_without_holding_others(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, _ = servers
    lead_id = await create_lead(first, team, "Busy")
    async with socket(first) as ws:
        await ws.init(bearer(team.people[Role.VIEWER].token))
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
        await wait_subscribed(redis, topic(team))
        # A burst far faster than one subscriber's deliveries (each re-checks its access).
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(BUFFER * 50):
                pipe.publish(PREFIX + topic(team), orjson.dumps(_message(team, lead_id)))
            await pipe.execute()
        while True:
            payload = await ws.next()
            if payload.get("errors"):
                break
        error = payload["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["reason"] == "SUBSCRIBER_OVERFLOW"
        assert f"More than {BUFFER} events" in error["message"]
        # The connection and the server carry on: a new subscription works.
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="2")
        await wait_subscribed(redis, topic(team))
        await create_lead(first, team, "Next")
        while (event := await ws.next("2"))["data"]["leadEvents"]["lead"]["name"] != "Next":
            pass
        assert event["data"]["leadEvents"]["type"] == "CREATED"
