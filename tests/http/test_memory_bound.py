"""Under a few thousand abusive requests a server process answers each with a clean error and
its resident memory stays bounded.

The batch is `bench/abuse.py`'s (the soak sends it too): huge variables, deep and wide queries,
oversized bodies (announced and streamed), a gzip bomb as a body, decompression-bomb and
garbage images, the heaviest image and the largest import that are accepted, imports over the
row limit or with a 5 MB cell, oversized form posts. The server is a uvicorn process of its own
(`tests/realtime/conftest.py`), so its RSS is its own; it is read from /proc.

The bound: RSS after the batch at most `BOUND` above RSS after a warm-up that sent every case
once (the warm-up pays the one-off costs: imported codecs, caches filled, the allocator's arenas
for the worker threads that decode images and read CSV). What may legitimately stay on top:
the bounded caches (parser, validation and cost plans: 256 entries each, a few MB) and allocator
slack. A leak of one request's body per request (2,000 x even 1 kB) or one retained decode (the
heaviest accepted image is 64 MB of pixels) would cross it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bench.abuse import AbuseBatch
from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api
from tests.forms_web.conftest import make_form
from tests.orgs.conftest import make_team
from tests.realtime.conftest import start_server, stop_server

MB = 1024 * 1024
BOUND = 50 * MB
ROUNDS, HEAVY_ROUNDS, CONCURRENCY = 7, 1, 8


def rss(pid: int) -> int:
    """The process's resident memory now, in bytes (Linux `/proc`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux /proc")
async def test_abusive_requests_get_clean_errors_and_memory_stays_bounded(
        api: Api, settings: Settings, database_url: str, tmp_path: Path) -> None:
    team = await make_team(api, settings, "abuse")
    form = await make_form(team.org)
    batch = AbuseBatch(token=team.people[Role.OWNER].token, org_id=team.org_id,
                       form_public_id=form.public_id)
    server = start_server(database_url, tmp_path, "abuse", COST_BUDGET_SCALE="1000")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
            warm_up = await batch.run(http, rounds=1, concurrency=CONCURRENCY)
            warm = rss(server.process.pid)
            tally = await batch.run(http, rounds=ROUNDS, heavy_rounds=HEAVY_ROUNDS,
                                    concurrency=CONCURRENCY)
            after = rss(server.process.pid)
            alive = await http.get("/healthz")
    finally:
        stop_server(server)
    assert warm_up.unexpected == [], warm_up.unexpected[:5]
    assert tally.unexpected == [], tally.unexpected[:5]
    assert tally.total >= 2000, tally.sent
    assert set(tally.sent) == {case.name for case in batch.cases()}
    assert alive.status_code == 200
    assert after - warm < BOUND, (
        f"RSS grew from {warm / MB:.0f} MB to {after / MB:.0f} MB over {tally.total} requests")
