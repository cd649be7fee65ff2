"""A request leaves no reference cycles behind: everything it loaded is freed when it ends, not
at the next full collection. graphql-core's execution context holds its own bound methods (and
our plans held it), so each Q1 once left ~1,600 objects (the context, its loaders, every row) for
the collector, whose full collections then walked the whole heap (`engine/execution.py`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from core.settings import Settings
from engine.context import Context
from engine.execution import LeanExecutionContext
from models.base import BaseModel
from models.orgs import Role
from tests.conftest import Api
from tests.leads.test_query_count import Q1, populate
from tests.orgs.conftest import make_team


@contextmanager
def cyclic_garbage() -> Iterator[list[object]]:
    """The objects that only the cycle collector could free, made inside the block."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list[object] = []
    try:
        yield found
    finally:
        gc.collect()
        found.extend(gc.garbage)
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()


async def test_q1_leaves_no_cycles_behind(api: Api, settings: Settings) -> None:
    team = await make_team(api, settings, "tidy", prefix="t.")
    await populate(settings, team, 10)
    token = team.people[Role.MEMBER].token
    body = await api.gql(Q1, {"slug": team.slug}, token=token)  # warm: plans, caches
    assert "errors" not in body, body

    with cyclic_garbage() as garbage:
        for _ in range(3):
            body = await api.gql(Q1, {"slug": team.slug}, token=token)
            assert len(body["data"]["organization"]["leads"]["nodes"]) == 10

    ours = [o for o in garbage
            if isinstance(o, Context | LeanExecutionContext | BaseModel)]
    assert ours == [], f"{len(ours)} request objects were left in cycles, such as " \
        f"{sorted({type(o).__name__ for o in ours})}"
