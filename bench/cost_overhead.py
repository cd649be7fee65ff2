"""What pricing a query costs next to running it: the cost extension's work on Q1 against Q1 itself.

In one process, on a throw-away SQLite database holding Q1's shape (one org, 20 members, 50 leads
with 3 notes each), it times:

- `compile`: pricing Q1's parsed document from scratch (once per query text: the plan is cached);
- `evaluate`: what every request pays for the price: the cached plan looked up by query text and
  evaluated with the request's variables;
- `spend`: taking the price from the caller's budget (in-process counters; Redis adds a round trip);
- `request`: a whole Q1 request through the ASGI app (httpx, no network), cost extension included.

and prints the per-request share (`evaluate` + `spend`) of the request time, which must stay under
5%. `python -m bench.cost_overhead [--requests 200]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from graphql import parse

from auth.tokens import issue_access_token
from billing.budgets import CostBudgets
from core.settings import Settings
from database import close_database, init_database, migrate_database
from engine.cost import CostPlans, compile_cost
from models.accounts import Session, User
from models.billing import Plan
from models.leads import Lead, Note
from models.orgs import Membership, Organization, Role
from schema import schema
from schema.list_bounds import LIST_BOUNDS
from server import create_app
from services.budgets import Caller

Q1 = (Path(__file__).parent / "q1.graphql").read_text()


def per_call(function: Callable[[], Any], repeat: int) -> float:
    """Median seconds per call over `repeat` batches of 100 calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(100):
            function()
        samples.append((time.perf_counter() - start) / 100)
    return statistics.median(samples)


async def per_await(function: Callable[[], Awaitable[Any]], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(100):
            await function()
        samples.append((time.perf_counter() - start) / 100)
    return statistics.median(samples)


async def seed(settings: Settings) -> str:
    """Q1's data; returns a member's access token."""
    now = datetime.now(UTC)
    org = await Organization.create(name="Bench", slug="bench")
    users = [await User.create(email=f"u{n}@example.com", name=f"User {n}", password_hash="x",
                               email_verified=True, age_check_passed_at=now,
                               terms_version=settings.terms_version, terms_accepted_at=now)
             for n in range(20)]
    for n, user in enumerate(users):
        await Membership.create(organization=org, user=user,
                                role=Role.OWNER if n == 0 else Role.MEMBER)
    for n in range(50):
        lead = await Lead.create(organization=org, name=f"Lead {n}", email=f"l{n}@example.com",
                                 owner=users[n % 20])
        for k in range(3):
            await Note.create(organization=org, lead=lead, author=users[k], body=f"Note {k}")
    session = await Session.create(user=users[0], last_used_at=now,
                                   expires_at=now + timedelta(days=1))
    token, _ = issue_access_token(settings, users[0].id, session.id)
    return token


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
        settings = Settings(env="test", database_url=url, log_level="WARNING")
        await migrate_database(url)
        await init_database(url)
        try:
            token = await seed(settings)
            app = create_app(settings, manage_database=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                async def q1() -> None:
                    response = await http.post(
                        "/graphql", json={"query": Q1, "variables": {"slug": "bench"}},
                        headers={"authorization": f"Bearer {token}"})
                    assert "errors" not in response.json(), response.text
                for _ in range(20):
                    await q1()  # warm the parser, validation and cost caches
                request = await per_await(q1, max(1, requests // 100))
        finally:
            await close_database()

    graphql_schema = schema._schema
    document = parse(Q1)
    plans = CostPlans(LIST_BOUNDS)
    compiled = per_call(lambda: compile_cost(graphql_schema, document, None, LIST_BOUNDS), 20)
    variables = {"slug": "bench"}
    evaluate = per_call(lambda: plans.get(graphql_schema, Q1, document, None)
                        .evaluate(variables), 50)
    budgets = CostBudgets(settings)
    caller = Caller("user:bench", budgets.person_by_plan[Plan.FREE])
    spend = await per_await(lambda: budgets.spend(caller, 441), 20)

    share = (evaluate + spend) / request
    cost = plans.get(graphql_schema, Q1, document, None).evaluate(variables)
    print(f"Q1 cost:                        {cost}")
    print(f"compile (once per query text):  {compiled * 1e6:8.1f} us")
    print(f"evaluate (every request):       {evaluate * 1e6:8.1f} us")
    print(f"spend, in-process (every req.): {spend * 1e6:8.1f} us")
    print(f"Q1 request, in-process:         {request * 1e6:8.1f} us")
    print(f"per-request pricing share:      {share:8.2%}  (must be < 5%)")
    print(f"even compiling every time:      {(compiled + spend) / request:8.2%}")
    if share >= 0.05:
        raise SystemExit("the cost computation adds 5% or more to Q1")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
