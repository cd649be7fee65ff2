"""Events are published after their transaction commits, and never for a rolled-back one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from tortoise.transactions import in_transaction as tortoise_transaction

from auth.viewer import Viewer
from engine.context import Context
from models.activity import ActivityEvent
from models.orgs import Role
from realtime.broker import Broker, Overflow, Subscriber
from realtime.events import org_topic
from realtime.outbox import in_transaction, queue
from resolvers.activity import record
from tests.orgs.conftest import Team


def _context(app: Any, team: Team) -> Context:
    request = Request({"type": "http", "headers": [], "client": ("127.0.0.1", 1)})
    return Context(request=request, response=Response(), services=app.state.services,
                   request_id="test", viewer=Viewer(user=team.people[Role.OWNER].user))


async def _next(subscriber: Subscriber, wait: float = 2) -> dict[str, Any]:
    return await asyncio.wait_for(anext(subscriber), wait)


async def _nothing(subscriber: Subscriber) -> None:
    with pytest.raises(TimeoutError):
        await _next(subscriber, 0.5)


async def test_a_rolled_back_change_publishes_nothing(app: Any, team: Team) -> None:
    ctx = _context(app, team)
    broker = app.state.services.broker  # Redis when REDIS_URL is set, else in process
    async with broker.subscribe([org_topic(team.org.id)]) as events:
        await asyncio.sleep(0.2)  # let a Redis subscription settle
        with pytest.raises(RuntimeError):
            async with in_transaction():
                await record(ctx, team.org.id, "lead.deleted", target_type="lead",
                             target_id=None, summary={"try": 1})
                raise RuntimeError("the change fails after its event was recorded")
        await _nothing(events)
        assert not await ActivityEvent._scoped(team.org.id).filter(action="lead.deleted")

        async with in_transaction():
            await record(ctx, team.org.id, "lead.deleted", target_type="lead",
                         target_id=None, summary={"try": 2})
            with pytest.raises(RuntimeError):
                async with in_transaction():  # a savepoint, rolled back alone
                    await record(ctx, team.org.id, "lead.deleted", target_type="lead",
                                 target_id=None, summary={"try": 3})
                    raise RuntimeError
            await asyncio.sleep(0.2)
            assert events._queue == type(events._queue)()  # nothing before the commit
        message = await _next(events)
        assert (message["action"], message["summary"]) == ("lead.deleted", {"try": 2})
        assert message["committedAt"] > 0
        await _nothing(events)
        rows = await ActivityEvent._scoped(team.org.id).filter(action="lead.deleted")
        assert [row.summary for row in rows] == [{"try": 2}]


@pytest.mark.no_db
async def test_a_full_buffer_ends_that_subscriber_only_and_never_blocks() -> None:
    broker = Broker(buffer=3)
    async with broker.subscribe(["t"]) as slow, broker.subscribe(["t"]) as fast:
        for n in range(3):
            await broker.publish(["t"], {"n": n})
            assert (await _next(fast))["n"] == n
        await broker.publish(["t"], {"n": 3})  # the fourth waiting event: slow overflows
        assert (await _next(fast))["n"] == 3
        with pytest.raises(Overflow, match="More than 3 events"):
            await _next(slow)
        await broker.publish(["t"], {"n": 4})
        assert (await _next(fast))["n"] == 4
    assert broker.hub.count("t") == 0


@pytest.mark.no_db
async def test_outside_a_transaction_an_event_is_published_at_once() -> None:
    broker = Broker()
    async with broker.subscribe(["t"]) as events:
        await queue(broker, ["t"], {"n": 1})
        assert (await _next(events))["n"] == 1


async def test_an_event_inside_tortoise_s_own_transaction_is_refused(app: Any,
                                                                     team: Team) -> None:
    ctx = _context(app, team)
    with pytest.raises(RuntimeError, match=r"realtime\.outbox\.in_transaction"):
        async with tortoise_transaction("default"):
            await record(ctx, team.org.id, "lead.deleted", target_type="lead", target_id=None)
    assert not await ActivityEvent._scoped(team.org.id).filter(action="lead.deleted")
