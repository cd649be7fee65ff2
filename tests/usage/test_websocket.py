"""Operations started on a WebSocket count in `organization.usage` like HTTP requests: a
subscription once it listens, with its errors when it is refused; a server process of its own
(`tests/realtime/conftest.py`) flushes its counters every fraction of a second."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.orgs import Role
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.realtime.conftest import Server, bearer, socket, start_server, stop_server
from tests.realtime.helpers import ACTIVITY, LEAD_EVENTS
from tests.tokens.conftest import make_token
from tests.usage.conftest import fresh_counts
from tests.usage.test_usage import today, usage

WATCH = LEAD_EVENTS.replace("subscription(", "subscription Watch(", 1)
FEED = ACTIVITY.replace("subscription(", "subscription Feed(", 1)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    started = start_server(database_url, tmp_path, "usage", USAGE_FLUSH_SECONDS="0.2")
    yield started
    stop_server(started)


async def report_once(api: Api, team: Team, requests: int) -> dict[str, Any]:
    """The day's usage once the server's flush has written `requests` requests, in the days'
    rows and in the operations' (a flush writes the first, then the second)."""
    report: dict[str, Any] = {}
    for _ in range(100):
        body = await usage(api, team, team.people[Role.ADMIN].token)
        assert "errors" not in body, body
        report = body["data"]["organization"]["usage"]
        if report["days"] and report["days"][0]["requests"] >= requests and \
                sum(o["count"] for o in report["topOperations"]) >= requests:
            return report
        await asyncio.sleep(0.1)
    return report


async def test_subscriptions_count_per_kind_client_and_operation(
        api: Api, app: Any, server: Server, team: Team, rival: Team) -> None:
    token = await make_token(team, ["leads:read"], name="Live board")
    await fresh_counts(app)
    async with socket(server) as person, socket(server) as script:
        assert await person.init(bearer(team.people[Role.MEMBER].token)) == \
            {"type": "connection_ack"}
        assert await script.init(bearer(token.secret)) == {"type": "connection_ack"}
        await person.subscribe(WATCH, {"org": team.org_id})
        await script.subscribe(WATCH, {"org": team.org_id})
        # Outside the token's scopes: FORBIDDEN, an error of the token in its org.
        await script.subscribe(FEED, {"org": team.org_id}, id="feed")
        assert (await script.next("feed"))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        # Another org's stream: NOT_FOUND, and nothing counted in either org for the person.
        await person.subscribe(WATCH, {"org": rival.org_id}, id="rival")
        assert (await person.next("rival"))["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        report = await report_once(api, team, 3)

    [day] = report["days"]
    assert day["day"] == today()
    assert (day["requests"], day["errors"]) == (3, 1)
    kinds = {k["kind"]: (k["requests"], k["errors"]) for k in day["byKind"]}
    assert kinds == {"PERSON": (1, 0), "API_TOKEN": (2, 1)}
    clients = {c["kind"]: c for c in report["clients"]}
    assert clients["API_TOKEN"]["name"] == "Live board"
    operations = {o["name"]: (o["count"], o["errors"]) for o in report["topOperations"]}
    assert operations == {"Watch": (2, 0), "Feed": (1, 1)}
    rivals = await usage(api, rival, rival.people[Role.ADMIN].token)
    assert [d["requests"] for d in rivals["data"]["organization"]["usage"]["days"]] == [0]
