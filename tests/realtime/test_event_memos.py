"""A live subscription keeps no memory per event it delivered.

graphql-core runs each event on a shallow copy of the subscription's executor; its memos (and
the engine's plans) were shared by every copy and grew by each event's field groups, which no
later event could hit: about 1.7 kB per event per socket, found by the soak (`make soak`, a
process's RSS +37 MB in four minutes with three sockets). This drives a subscription through
the engine's executor (`engine.execution.LeanExecutionContext`) for a few events and for many,
and counts the field groups still alive after a collection: the same, whatever the number.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from inspect import isawaitable
from typing import Any

from graphql import build_schema, parse, subscribe
from graphql.execution.collect_fields import FieldDetails

from engine.execution import LeanExecutionContext

SDL = """
type Query { ok: Boolean }
type Lead { id: ID! name: String! owner: Person }
type Person { name: String! }
type Event { type: String! lead: Lead }
type Subscription { events(count: Int!): Event! }
"""
DOCUMENT = parse(
    "subscription($n: Int!) { events(count: $n) { type lead { id name owner { name } } } }")


async def _events(_root: Any, _info: Any, count: int) -> AsyncIterator[dict[str, Any]]:
    for n in range(count):
        yield {"events": {"type": "UPDATED", "lead": {"id": str(n), "name": f"Lead {n}",
                                                       "owner": {"name": "Ada"}}}}


async def _field_groups_alive_after(count: int) -> int:
    schema = build_schema(SDL)
    schema.subscription_type.fields["events"].subscribe = _events  # type: ignore[union-attr]
    stream: Any = subscribe(schema, DOCUMENT, variable_values={"n": count},
                            executor_class=LeanExecutionContext)
    if isawaitable(stream):
        stream = await stream
    seen = 0
    async for result in stream:
        assert result.errors is None
        assert result.data["events"]["lead"]["owner"] == {"name": "Ada"}
        seen += 1
        if seen == count:  # the stream is still open: its executor and memos are alive
            gc.collect()
            alive = sum(1 for o in gc.get_objects() if isinstance(o, FieldDetails))
    assert seen == count
    return alive


async def test_a_subscription_keeps_nothing_per_event() -> None:
    few = await _field_groups_alive_after(3)
    many = await _field_groups_alive_after(300)
    assert many == few, f"{many - few} field details kept by 297 more events"
