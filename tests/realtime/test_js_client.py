"""A real JavaScript client (issue 16, item 1): the `graphql-ws` npm package under Node, over Node's
own WebSocket (which, like a browser's, gives binary frames to the client as Blobs), subscribes to
`leadEvents` on one server process and reads the event of a lead created on another.

`make js-client` installs `clients/js` with `npm ci` (`make test` runs it first). Without Node or
that install the test fails saying what to run; `RELLEKS_SKIP_NODE=1` skips it on purpose.
`tests/http/test_graphiql_browser.py` does the same from GraphiQL in Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import subprocess
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from auth.tokens import decode_access_token, issue_access_token
from core.settings import ROOT, Settings
from models.orgs import Role
from tests.conftest import STRONG_PASSWORD
from tests.orgs.conftest import Team
from tests.realtime.conftest import Server, wait_subscribed
from tests.realtime.helpers import create_lead

CLIENT = ROOT / "clients" / "js"
WAIT = 30  # seconds, for a busy machine: the waits end as soon as the client prints

pytestmark = pytest.mark.skipif(os.environ.get("RELLEKS_SKIP_NODE") == "1",
                                reason="RELLEKS_SKIP_NODE=1: the Node client test is skipped")


def node_command() -> list[str]:
    node = shutil.which("node")
    assert node, "Node.js is needed for the JavaScript client test (or RELLEKS_SKIP_NODE=1)"
    assert (CLIENT / "node_modules" / "graphql-ws").is_dir(), \
        "clients/js is not installed: run `make js-client` (npm ci in clients/js)"
    has_websocket = subprocess.run(
        [node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
        check=False).returncode == 0
    return [node] if has_websocket else [node, "--experimental-websocket"]


async def read_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT)
    if not line:
        assert process.stderr is not None
        raise AssertionError(f"the client ended: {(await process.stderr.read()).decode()}")
    return orjson.loads(line)


async def test_graphql_ws_under_node_reads_a_lead_event(servers: tuple[Server, Server],
                                                        team: Team, redis: Redis) -> None:
    first, second = servers
    process = await asyncio.create_subprocess_exec(
        *node_command(), str(CLIENT / "subscribe.mjs"), first.url.replace("http", "ws", 1) +
        "/graphql", team.people[Role.OWNER].token, team.org_id,
        cwd=CLIENT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert await read_line(process) == {"connected": True}
        await wait_subscribed(redis, f"org:{team.org.id}")
        lead_id = await create_lead(second, team, "Ada from Node")
        event = await read_line(process)
        assert "error" not in event, event
        assert event["next"]["data"]["leadEvents"] == {
            "type": "CREATED", "leadId": lead_id, "lead": {"name": "Ada from Node"}}
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


LOG_IN = """mutation($input: LogInInput!) { logIn(input: $input) { accessToken refreshToken } }"""


async def test_graphql_ws_under_node_refreshes_when_its_access_token_expires(
        servers: tuple[Server, Server], team: Team, redis: Redis, settings: Settings) -> None:
    """The server closes the socket with 4403 at the access token's expiry; the client trades
    its refresh token in `connectionParams`, graphql-ws reconnects and subscribes again, and the
    next event arrives."""
    first, second = servers
    owner = team.people[Role.OWNER]
    body = await first.gql(LOG_IN, {"input": {"email": owner.email,
                                              "password": STRONG_PASSWORD}})
    assert "errors" not in body, body
    signed_in = body["data"]["logIn"]
    claims = decode_access_token(settings, signed_in["accessToken"])
    # An access token of that session minted with a three-second lifetime.
    short, _ = issue_access_token(dataclasses.replace(settings, access_token_ttl=3),
                                  claims.user_id, claims.session_id)
    process = await asyncio.create_subprocess_exec(
        *node_command(), str(CLIENT / "subscribe.mjs"), first.url.replace("http", "ws", 1) +
        "/graphql", short, team.org_id, cwd=CLIENT,
        env={**os.environ, "RELLEKS_REFRESH_TOKEN": signed_in["refreshToken"]},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert await read_line(process) == {"connected": True}
        assert await read_line(process) == {"closed": 4403}
        assert await read_line(process) == {"refreshed": True}
        assert await read_line(process) == {"connected": True}
        # The old socket's listener may still be counted for a moment: a lead made before the
        # new subscription listens would be missed, so make another until one arrives.
        for attempt in range(10):
            await wait_subscribed(redis, f"org:{team.org.id}")
            lead_id = await create_lead(second, team, f"After the refresh {attempt}")
            try:
                event = await asyncio.wait_for(read_line(process), 3)
            except TimeoutError:
                continue
            assert "error" not in event, event
            assert event["next"]["data"]["leadEvents"]["leadId"] == lead_id
            break
        else:
            raise AssertionError("no event reached the client after it reconnected")
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def test_graphql_ws_under_node_stops_on_4401_when_the_session_ends(
        servers: tuple[Server, Server], team: Team, redis: Redis) -> None:
    """A credential that ended (logOut) closes with 4401, which graphql-ws never retries."""
    first, second = servers
    member = team.people[Role.MEMBER]
    process = await asyncio.create_subprocess_exec(
        *node_command(), str(CLIENT / "subscribe.mjs"), first.url.replace("http", "ws", 1) +
        "/graphql", member.token, team.org_id, cwd=CLIENT,
        env={**os.environ, "RELLEKS_REFRESH_TOKEN": "rlk_rt_unused"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert await read_line(process) == {"connected": True}
        await wait_subscribed(redis, f"sessions:{member.user.id}")
        body = await second.gql("mutation { logOut { endedSessionId } }", token=member.token)
        assert "errors" not in body, body
        line = await read_line(process)
        assert line["error"].startswith("closed 4401"), line
        assert await asyncio.wait_for(process.wait(), WAIT) == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
