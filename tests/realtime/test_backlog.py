"""A subscriber catching up on a backlog: every event still arrives, in order; one check of its
credential and permission covers the events that were already waiting when it ran (counted by
`relleks_subscription_checks`), and never an event that came after it, so a session ended
behind the server's back still ends the stream at the next event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from models.accounts import Session
from models.orgs import Role
from models.tenancy import system_scope
from models.tokens import ApiToken
from tests.metrics.conftest import METRICS_TOKEN, Samples, parse, value
from tests.orgs.conftest import Team
from tests.realtime.conftest import (
    PREFIX,
    REDIS_URL,
    Server,
    bearer,
    socket,
    start_server,
    stop_server,
    wait_subscribed,
)
from tests.realtime.helpers import create_lead
from tests.tokens.conftest import make_token

BACKLOG = 40
EVENTS = """subscription($org: ID!) { leadEvents(organizationId: $org) { type leadId } }"""


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set: the backlog is replayed through Redis")
    started = start_server(database_url, tmp_path, "backlog", REDIS_URL=REDIS_URL,
                           METRICS_TOKEN=METRICS_TOKEN, REALTIME_BUFFER=str(BACKLOG * 2))
    yield started
    stop_server(started)


async def checks(server: Server) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get("/metrics",
                                    headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    samples: Samples = parse(response.text)
    return (value(samples, "relleks_subscription_checks_total", outcome="read"),
            value(samples, "relleks_subscription_checks_total", outcome="covered"))


@pytest.mark.parametrize("credential", ["session", "api_token"])
async def test_a_backlog_is_delivered_whole_with_one_check_per_batch_and_no_further(
        server: Server, redis: Redis, team: Team, credential: str) -> None:
    member = team.people[Role.MEMBER]
    token = await make_token(team, ["leads:read"]) if credential == "api_token" else None
    topic = f"org:{team.org.id}"
    async with socket(server) as ws, redis.pubsub() as tap:
        secret = token.secret if token is not None else member.token
        assert await ws.init(bearer(secret)) == {"type": "connection_ack"}
        await ws.subscribe(EVENTS, {"org": team.org_id})
        await wait_subscribed(redis, topic)
        await tap.subscribe(PREFIX + topic)
        lead_id = await create_lead(server, team, "Grace Hopper")
        published = None
        for _ in range(100):  # the event as the server published it, to replay it
            message = await tap.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                published = message["data"]
                break
        assert published is not None
        assert (await ws.next())["data"]["leadEvents"] == {"type": "CREATED", "leadId": lead_id}
        read_before, covered_before = await checks(server)

        # Another process's burst, as it reaches this one: all at once, faster than delivered.
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(BACKLOG):
                pipe.publish(PREFIX + topic, published)
            await pipe.execute()
        for _ in range(BACKLOG):
            assert (await ws.next())["data"]["leadEvents"] == {"type": "CREATED",
                                                               "leadId": lead_id}
        read, covered = await checks(server)
        assert read - read_before + covered - covered_before == BACKLOG
        assert covered - covered_before >= 1, "no check covered the waiting events"
        assert read - read_before >= 1

        # Ended behind the server's back (no notice reaches it): the next event is not covered
        # by any check made before it came, so it ends the stream instead of arriving.
        if token is not None:
            await system_scope(team.org.id, reason="test: a token revoked behind the server's "
                               "back").scoped(ApiToken).filter(id=token.row.id) \
                .update(revoked_at=datetime.now(UTC))
        else:
            await Session.filter(user_id=member.user.id).update(revoked_at=datetime.now(UTC))
        await asyncio.sleep(0.05)
        await redis.publish(PREFIX + topic, published)
        error = await ws.ended()
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["reason"] == "CREDENTIAL_ENDED"
