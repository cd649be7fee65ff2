"""The JavaScript client (`clients/js/subscribe.mjs`, graphql-ws under Node) across a restart:
its socket is closed with 1012 "Service Restart" when the server process is given SIGTERM, it
reconnects to the process that replaces it on the same port, subscribes again, and receives
the next event."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from models.orgs import Role
from tests.orgs.conftest import Team
from tests.realtime.conftest import REDIS_URL, redis, wait_subscribed
from tests.realtime.helpers import create_lead
from tests.realtime.test_js_client import CLIENT, node_command, read_line
from tests.shutdown.conftest import exit_status, kill, serve

__all__ = ["redis"]  # the fixture

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (wait_subscribed)")


async def test_the_js_client_reconnects_after_a_restart(
        team: Team, redis: Redis, database_url: str, tmp_path: Path) -> None:
    assert REDIS_URL
    first = serve(database_url, tmp_path, "before", REDIS_URL=REDIS_URL)
    process = await asyncio.create_subprocess_exec(
        *node_command(), str(CLIENT / "subscribe.mjs"), first.ws, team.people[Role.OWNER].token,
        team.org_id, cwd=CLIENT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    second = None
    try:
        assert await read_line(process) == {"connected": True}
        await wait_subscribed(redis, f"org:{team.org.id}")
        first.process.send_signal(signal.SIGTERM)
        assert await read_line(process) == {"closed": 1012}
        assert await exit_status(first.process) == 0
        second = serve(database_url, tmp_path, "after", port=first.port, REDIS_URL=REDIS_URL)
        assert await read_line(process) == {"connected": True}  # reconnected by itself
        await wait_subscribed(redis, f"org:{team.org.id}")  # and subscribed again
        lead_id = await create_lead(second, team, "Ada after the restart")
        event = await read_line(process)
        assert event.get("next", {}).get("data", {}).get("leadEvents", {}).get("leadId") == \
            lead_id, event
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        kill(first)
        if second is not None:
            kill(second)
