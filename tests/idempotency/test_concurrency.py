"""Ten clients sending one createLead under one key at the same time make one lead: the claim is
an INSERT against the unique (caller, key), so exactly one request runs; the others replay its
response or are told it is still running. On PostgreSQL the requests run truly concurrently, each
on its own pooled connection; on SQLite they interleave in the event loop."""

from __future__ import annotations

import asyncio

from models.idempotency import IdempotencyKey, KeyStatus
from models.leads import Lead
from models.tenancy import system_scope
from tests.conftest import Api
from tests.idempotency.conftest import create_lead
from tests.orgs.conftest import Team


async def test_ten_concurrent_requests_with_one_key_make_one_lead(api: Api, team: Team) -> None:
    responses = await asyncio.gather(*(create_lead(api, team, key="burst") for _ in range(10)))
    ran = [r for r in responses if r.status_code == 200 and
           "idempotent-replayed" not in r.headers]
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    busy = [r for r in responses if r.status_code == 409]
    assert len(ran) == 1, [r.text for r in responses]
    # They overlapped: some arrived while the first was running (here, usually all nine).
    assert busy, "no request overlapped the first: this test proves nothing then"
    assert len(ran) + len(replayed) + len(busy) == 10
    assert all(r.content == ran[0].content for r in replayed)
    for response in busy:
        assert response.json()["errors"][0]["extensions"]["reason"] == "IDEMPOTENCY_IN_PROGRESS"
    leads = await system_scope(team.org.id, reason="test").scoped(Lead).all()
    assert len(leads) == 1
    assert leads[0].name == ran[0].json()["data"]["createLead"]["lead"]["name"] == "Ada"
    [row] = await IdempotencyKey.all()
    assert row.status is KeyStatus.DONE
    # Afterwards every retry gets the one response.
    after = await asyncio.gather(*(create_lead(api, team, key="burst") for _ in range(5)))
    assert all(r.content == ran[0].content and r.headers["idempotent-replayed"] == "true"
               for r in after)
    assert len(await system_scope(team.org.id, reason="test").scoped(Lead).all()) == 1


async def test_concurrent_requests_with_different_keys_all_run(api: Api, team: Team) -> None:
    responses = await asyncio.gather(*(create_lead(api, team, key=f"k{i}", name=f"Lead {i}")
                                       for i in range(5)))
    assert all(r.status_code == 200 and "errors" not in r.json() for r in responses)
    assert len(await system_scope(team.org.id, reason="test").scoped(Lead).all()) == 5
