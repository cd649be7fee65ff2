"""Lead events reach subscribers across processes, through the same types as queries."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from models.orgs import Role
from tests.orgs.conftest import Team
from tests.realtime.conftest import Server, bearer, socket, wait_subscribed
from tests.realtime.helpers import (
    ADD_NOTE,
    ASSIGN_LEAD,
    DELETE_LEAD,
    LEAD_EVENTS,
    UPDATE_LEAD,
    create_lead,
)


def org_topic(team: Team) -> str:
    return f"org:{team.org.id}"


async def test_a_mutation_on_one_process_reaches_a_subscriber_on_the_other(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, second = servers
    viewer = team.people[Role.VIEWER]
    member = team.people[Role.MEMBER]
    async with socket(first) as ws:
        assert await ws.init(bearer(viewer.token)) == {"type": "connection_ack"}
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
        await wait_subscribed(redis, org_topic(team))

        lead_id = await create_lead(second, team, "Grace Hopper")
        event = (await ws.next())["data"]["leadEvents"]
        assert event["type"] == "CREATED"
        assert event["leadId"] == lead_id
        assert event["lead"] == {"id": lead_id, "name": "Grace Hopper", "status": "NEW",
                                 "owner": None}
        assert event["changedFields"] == [] and event["note"] is None
        assert event["committedAt"] >= event["occurredAt"]

        body = await second.gql(UPDATE_LEAD, {"input": {"id": lead_id, "company": "Navy",
                                                        "status": "CONTACTED"}},
                                token=member.token)
        assert "errors" not in body, body
        updated = (await ws.next())["data"]["leadEvents"]
        assert (updated["type"], updated["changedFields"]) == ("UPDATED", ["company", "status"])
        assert updated["lead"]["status"] == "CONTACTED"
        status = (await ws.next())["data"]["leadEvents"]
        assert (status["type"], status["changedFields"]) == ("STATUS_CHANGED", [])

        body = await second.gql(ASSIGN_LEAD, {"input": {"id": lead_id, "ownerId": member.id}},
                                token=member.token)
        assert "errors" not in body, body
        types = []
        for _ in range(2):  # UPDATED (owner) and ASSIGNED
            event = (await ws.next())["data"]["leadEvents"]
            types.append(event["type"])
            assert event["lead"]["owner"] == {"id": member.id, "name": "Mia Member"}
        assert types == ["UPDATED", "ASSIGNED"]

        body = await second.gql(ADD_NOTE, {"input": {"leadId": lead_id, "body": "Called."}},
                                token=member.token)
        assert "errors" not in body, body
        note = (await ws.next())["data"]["leadEvents"]
        assert note["type"] == "NOTE_ADDED"
        assert note["note"] == {"id": body["data"]["addNote"]["note"]["id"], "body": "Called."}
        assert note["lead"]["id"] == lead_id

        body = await second.gql(DELETE_LEAD, {"id": lead_id}, token=team.people[Role.ADMIN].token)
        assert "errors" not in body, body
        deleted = (await ws.next())["data"]["leadEvents"]
        assert (deleted["type"], deleted["leadId"], deleted["lead"]) == ("DELETED", lead_id, None)
        await ws.nothing()


async def test_the_embedded_broker_delivers_within_one_process(embedded: Server,
                                                               team: Team) -> None:
    async with socket(embedded) as ws:
        await ws.init(bearer(team.people[Role.MEMBER].token))
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
        # No Redis to ask whether the subscription is registered: create leads until one
        # arrives, then check the next one arrives too.
        event = await ws.first_event(
            lambda attempt: create_lead(embedded, team, f"Lead {attempt}"))
        assert event["data"]["leadEvents"]["type"] == "CREATED"
        name = f"Lead {uuid.uuid4().hex[:6]}"
        await create_lead(embedded, team, name)
        while True:  # events of the earlier attempts may still be on their way
            event = (await ws.next())["data"]["leadEvents"]
            if event["lead"]["name"] == name:
                break
