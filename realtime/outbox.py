"""Publish events only once the transaction that caused them has committed.

Tortoise has no on-commit hook, so writes that publish run in this module's `in_transaction()`
(a drop-in for Tortoise's): events queued with `queue()` inside it are held, published when the
outermost block commits, and dropped when any block around them rolls back.

    async with in_transaction():
        lead = await Lead.create(...)
        await record(ctx, org_id, "lead.created", ...)  # queues the event
    # committed: the event is published now
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog
from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction as tortoise_transaction

from realtime.broker import Broker

log = structlog.get_logger("relleks.realtime")


@dataclass
class Pending:
    """Events waiting for the transaction around them to commit."""

    events: list[tuple[Broker, tuple[str, ...], dict[str, Any]]] = field(default_factory=list)
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Work to run once committed (queuing the webhook deliveries whose rows it wrote)."""


_pending: ContextVar[Pending | None] = ContextVar("realtime_pending", default=None)


@contextlib.asynccontextmanager
async def in_transaction(connection_name: str | None = None) -> AsyncIterator[Any]:
    """Tortoise's `in_transaction()`, plus: events queued inside are published after commit.

    A nested block is a savepoint: its events join the outer block's, so they wait for the real
    commit, and a savepoint rolled back drops its own events only. Unnamed, the transaction is
    the data's (`"default"`): the keystore is a second connection (docs/encryption.md)."""
    outer = _pending.get()
    mine = Pending()
    token = _pending.set(mine)
    try:
        async with tortoise_transaction(connection_name or "default") as connection:
            yield connection
    finally:
        _pending.reset(token)
    # Reached only when the block committed (or released its savepoint).
    if outer is not None:
        outer.events.extend(mine.events)
        outer.after.extend(mine.after)
    else:
        await _publish(mine.events)
        await _run_after(mine.after)


async def queue(broker: Broker, topics: Iterable[str], message: dict[str, Any]) -> None:
    """Publish `message` after the current `in_transaction()` block commits; at once outside
    one (the change it describes is then already saved)."""
    pending = _pending.get()
    event = (broker, tuple(topics), message)
    if pending is not None:
        pending.events.append(event)
    elif _in_tortoise_transaction():
        raise RuntimeError("An event was queued inside Tortoise's own in_transaction(): use "
                           "realtime.outbox.in_transaction() so it waits for the commit.")
    else:
        await _publish([event])


async def after_commit(callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once the current `in_transaction()` block commits (dropped if it rolls
    back); at once outside one. A failure is logged, never raised: what it would do must also
    be promised by a committed row (e.g. the sweep re-queues pending webhook messages)."""
    pending = _pending.get()
    if pending is not None:
        pending.after.append(callback)
    else:
        await _run_after([callback])


async def _run_after(callbacks: list[Callable[[], Awaitable[None]]]) -> None:
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            log.exception("realtime.after_commit_failed")


def _in_tortoise_transaction() -> bool:
    try:
        return isinstance(connections.get("default"), TransactionalDBClient)
    except Exception:  # no database set up (e.g. a database-free test)
        return False


async def _publish(events: list[tuple[Broker, tuple[str, ...], dict[str, Any]]]) -> None:
    """Publish committed events. The change is saved whatever happens here: a broker that fails
    loses the event for live subscribers (they refetch on reconnect), never the mutation."""
    for broker, topics, message in events:
        message["committedAt"] = time.time()
        try:
            await broker.publish(topics, message)
        except Exception:
            log.exception("realtime.publish_failed", action=message.get("action"))
