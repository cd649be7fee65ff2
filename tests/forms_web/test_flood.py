"""A flood of 1,000 bot submissions from one address against a real server on loopback (a
`scripts.serve` process with the demo data): no lead is made, and the API keeps answering a
signed-in person's GraphQL queries all along. Twice: with the default limits (nothing past the
network's budget is even stored), and with the limits raised out of the way, so that every
submission meets the checks and is stored as SPAM.

Bounded: 20 connections at a time, two minutes at most each.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from core.settings import ROOT, Settings
from tests import serving

pytestmark = pytest.mark.no_db  # its own server and SQLite file: once, in the SQLite leg

FORM = "demo-contact"
FLOOD = 1_000
CONNECTIONS = 20
LEADS = """query { organization(slug: "demo-co") { leads(first: 1) { totalCount } } }"""
LOG_IN = """mutation { logIn(input: {email: "demo@example.com",
                                      password: "demo-relleks-2026!"}) { accessToken } }"""


UNLIMITED = "100000/minute"


@pytest.fixture(scope="module", params=["default limits", "checks only"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Path, int]]:
    """The server's base URL, its SQLite file, and how many submissions pass the limits."""
    tmp = tmp_path_factory.mktemp("forms-flood")
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update({"DATABASE_URL": f"sqlite://{tmp / 'db.sqlite3'}", "LOG_LEVEL": "WARNING",
                "MEDIA_ROOT": str(tmp / "media")})
    for command in (["-m", "tortoise", "-c", "database.TORTOISE_ORM", "migrate"],
                    ["-m", "scripts.load_demo"]):
        done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    limits = {} if request.param == "default limits" else {"FORM_RATE_PER_IP": UNLIMITED,
                                                            "FORM_RATE_PER_FORM": UNLIMITED}
    allowed = int(Settings().form_rate_per_ip.split("/")[0]) if not limits else FLOOD
    with serving.served(tmp, RELLEKS_ENV="development", **limits) as port:
        yield f"http://127.0.0.1:{port}", tmp / "db.sqlite3", allowed


def bot_submission(n: int) -> dict[str, object]:
    """What bots send: each fails some check (and none solved a challenge)."""
    kinds = [
        {"data": {"name": "Cheap meds", "email": f"bot{n}@spam.example", "consent": "yes",
                  "website": "http://pills.example"}},
        {"json": {"name": f"http://spam.example/{n}", "email": f"bot{n}@spam.example",
                  "consent": True}, "headers": {"origin": "https://spam.example"}},
        {"data": {"name": "Bot", "email": f"bot{n}@spam.example", "consent": "yes",
                  "stamp": f"{int(time.time() * 1000)}.forged"}},
    ]
    return kinds[n % len(kinds)]


async def test_a_flood_from_one_address_makes_no_lead_and_the_api_keeps_answering(
        server: tuple[str, Path, int]) -> None:
    base, database, allowed = server
    limits = httpx.Limits(max_connections=CONNECTIONS + 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        token = (await http.post("/graphql", json={"query": LOG_IN})).json()[
            "data"]["logIn"]["accessToken"]
        auth = {"authorization": f"Bearer {token}"}

        async def lead_count() -> int:
            body = (await http.post("/graphql", json={"query": LEADS}, headers=auth)).json()
            assert "errors" not in body, body
            return body["data"]["organization"]["leads"]["totalCount"]

        before = await lead_count()
        statuses: Counter[int] = Counter()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(FLOOD):
            queue.put_nowait(n)

        async def bot() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                response = await http.post(f"/f/{FORM}", **bot_submission(n))  # type: ignore[arg-type]
                statuses[response.status_code] += 1

        answered: list[float] = []
        finished: list[float] = []
        flooding = True

        async def person() -> None:
            while flooding:
                started = time.perf_counter()
                assert await lead_count() == before
                answered.append(time.perf_counter() - started)
                finished.append(time.perf_counter())
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(person())
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(bot() for _ in range(CONNECTIONS))), 120)
        ended = time.perf_counter()
        took = ended - started
        flooding = False
        await asyncio.wait_for(watcher, 30)
        after = await lead_count()

    assert sum(statuses.values()) == FLOOD
    assert +statuses == +Counter({200: allowed, 429: FLOOD - allowed}), statuses
    assert after == before
    # The person was answered throughout, each time within a bound a person would bear.
    assert [t for t in finished if t < ended], (took, answered)  # answered during the flood
    assert max(answered) < 5, answered
    with closing(sqlite3.connect(database)) as db:
        stored = db.execute("SELECT status, COUNT(*) FROM form_submissions "
                            "GROUP BY status").fetchall()
        # Leads' emails are encrypted at rest: bots' leads would be the only ones from a form.
        made = db.execute("SELECT COUNT(*) FROM leads WHERE source = 'form'").fetchone()
    assert stored == [("spam", allowed)]  # past a budget nothing is even stored
    assert made == (0,)
