"""Webhook deliveries with one job worker: throughput, commit-to-delivery latency, isolation.

On PostgreSQL (`--database-url`, default `BENCH_DATABASE_URL`, else a scratch database
`relleks_webhooks_bench` on the server TEST_POSTGRES_URL names, dropped and created afresh) it
makes an org (BUSINESS plan) with an owner, starts the API (one uvicorn process that queues jobs
but runs none: JOBS_IN_PROCESS=false), a receiver on loopback (`bench/webhook_receiver.py`:
204 at once on `/hook/fast`, after 2 s on `/hook/slow`) and creates, through the API, an
endpoint on `/hook/fast` for `lead.created`. Every message goes the real way: a `createLead`
over HTTP records it in the lead's transaction and queues its job after the commit; ONE
`python -m jobs.worker` process (the production worker) delivers.

  (a) throughput: `--backlog` leads are created with the worker stopped, then the worker starts;
      deliveries per second from its start (and from the first to the last arrival).
  (b) latency: the worker running, `--rate` leads a second for `--seconds`; for each message,
      receiver arrival time minus the message's `created_at` in the database (stamped inside
      the lead's transaction, a few ms before its commit: the figures err high); p50/p95/p99.
  (c) isolation: a second endpoint on `/hook/slow` (2 s per answer) gets the same events; the
      same trickle again; the fast endpoint's percentiles, and the slow one's.
      The worker runs `--isolation-concurrency` deliveries at once (0: its default,
      WEBHOOK_CONCURRENCY = 16); a job holds its slot while its receiver answers, and one
      endpoint's jobs hold at most WEBHOOK_LANES_PER_ENDPOINT (4) slots: at 5 events/s the slow
      endpoint, needing 10, falls behind on its own, the fast one keeps its pace.

    python -m bench.webhooks            # make bench-webhooks
    python -m bench.webhooks --backlog 200 --seconds 5   # a quick look

Results go to `bench/results/webhooks.json`. The three processes share the machine's cores
with this one (the load generator) and with the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from strawberry import relay

from auth.tokens import issue_access_token
from core.settings import Settings
from database import close_database, init_database, migrate_database
from models.accounts import Session, User
from models.billing import BillingAccount, Plan, SubscriptionStatus
from models.orgs import Membership, Organization, Role

ROOT = Path(__file__).resolve().parents[1]
CREATE_LEAD = "mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id } } }"
CREATE_ENDPOINT = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { webhookEndpoint { id } } }"""
LOGS = Path(tempfile.gettempdir()) / "relleks-bench-webhooks"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"count": len(values), "p50": round(statistics.median(values), 1),
            "p95": round(percentile(values, 0.95), 1),
            "p99": round(percentile(values, 0.99), 1), "max": round(max(values), 1)}


def default_url() -> str:
    base = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:54329/postgres")
    return f"{base.rsplit('/', 1)[0]}/relleks_webhooks_bench"


def plain(url: str) -> str:
    """asyncpg refuses Tortoise's URL options (`?maxsize=`)."""
    return url.split("?", 1)[0]


async def prepare(url: str) -> tuple[str, str]:
    """A fresh database and org with an OWNER on the BUSINESS plan; its global id, a token."""
    admin_url, _, name = plain(url).rpartition("/")
    admin = await asyncpg.connect(f"{admin_url}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await migrate_database(url)
    await init_database(url)
    settings = Settings(database_url=url)
    now = datetime.now(UTC)
    org = await Organization.create(name="Webhooks", slug=f"hooks-{uuid.uuid4().hex[:6]}")
    await BillingAccount.create(organization_id=org.id, subscription_plan=Plan.BUSINESS,
                                status=SubscriptionStatus.ACTIVE)
    owner = await User.create(email="owner@hooks.test", name="Owner", password_hash="-",
                              email_verified=True, age_check_passed_at=now,
                              terms_version=settings.terms_version, terms_accepted_at=now)
    session = await Session.create(user_id=owner.id, last_used_at=now,
                                   expires_at=now + timedelta(days=1))
    await Membership.create(organization_id=org.id, user_id=owner.id, role=Role.OWNER)
    token = issue_access_token(settings, owner.id, session.id)[0]
    await close_database()
    return str(relay.GlobalID("Organization", str(org.id))), token


def environment(url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in {"REDIS_URL", "SMTP_URL"} and not key.startswith("STRIPE_")}
    env.update(DATABASE_URL=url, LOG_LEVEL="WARNING", COST_BUDGET_SCALE="1000",
               ACCESS_TOKEN_TTL="3600", JOBS_IN_PROCESS="false", WEBHOOK_ALLOW_LOOPBACK="true",
               RELLEKS_ENV="development")
    return env


def spawn(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    LOGS.mkdir(exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def uvicorn(name: str, target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = spawn(name, [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1",
                           "--port", str(port), "--no-access-log"], env)
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"webhooks bench: {name} exited; see {LOGS}/{name}.log")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"webhooks bench: {name} did not start")


def worker(env: dict[str, str], concurrency: int) -> subprocess.Popen[bytes]:
    """The production worker; `concurrency` is its webhook slots (0: its default,
    WEBHOOK_CONCURRENCY)."""
    extra = ["--webhook-concurrency", str(concurrency)] if concurrency else []
    return spawn("worker", [sys.executable, "-m", "jobs.worker", *extra], env)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Bench:
    def __init__(self, args: argparse.Namespace, url: str, org_id: str, token: str) -> None:
        self.args = args
        self.url = url
        self.org_id = org_id
        self.api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.api_port}", timeout=60,
                                     headers={"authorization": f"Bearer {token}"})
        self.receiver = httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.receiver_port}",
                                          timeout=60)
        self.created = 0
        self.failed = 0

    async def gql(self, query: str, variables: dict[str, Any], *,
                  strict: bool = True) -> dict[str, Any]:
        """The answer; an error stops the bench, or with `strict=False` is counted (a busy
        machine may push a createLead past EXECUTION_TIMEOUT: that lead makes no message)."""
        response = await self.api.post("/graphql", json={"query": query,
                                                         "variables": variables})
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            if strict:
                raise SystemExit(f"webhooks bench: {body['errors']}")
            self.failed += 1
            print("webhooks bench: a lead failed:", body["errors"][0]["message"],
                  file=sys.stderr)
        return body

    async def endpoint(self, name: str) -> str:
        body = await self.gql(CREATE_ENDPOINT, {"input": {
            "organizationId": self.org_id, "description": f"bench {name}",
            "url": f"http://127.0.0.1:{self.args.receiver_port}/hook/{name}",
            "eventTypes": ["LEAD_CREATED"]}})
        global_id = body["data"]["createWebhookEndpoint"]["webhookEndpoint"]["id"]
        return str(relay.GlobalID.from_id(global_id).node_id)

    async def lead(self) -> None:
        self.created += 1
        await self.gql(CREATE_LEAD, {"input": {"organizationId": self.org_id,
                                               "name": f"Lead {self.created}"}}, strict=False)

    async def leads(self, count: int, parallel: int = 4) -> float:
        """`count` leads, `parallel` requests at a time; the seconds it took."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with gate:
                await self.lead()

        await asyncio.gather(*(one() for _ in range(count)))
        return time.perf_counter() - started

    async def trickle(self, rate: float, seconds: float) -> int:
        """`rate` leads a second for `seconds`, each started on time (not after the last)."""
        count = round(rate * seconds)
        start = time.perf_counter()
        tasks = []
        for n in range(count):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.lead()))
        failed = self.failed
        await asyncio.gather(*tasks)
        return count - (self.failed - failed)

    async def arrivals(self, path: str = "fast") -> dict[str, list[float]]:
        response = await self.receiver.get("/arrivals", params={"path": path})
        data: dict[str, list[float]] = response.json()
        return data

    async def until(self, path: str, count: int, wait: float) -> dict[str, list[float]]:
        deadline = time.monotonic() + wait
        while True:
            seen = await self.arrivals(path)
            if len(seen) >= count or time.monotonic() > deadline:
                return seen
            await asyncio.sleep(0.05)

    async def latencies(self, endpoint_id: str, seen: dict[str, list[float]]) -> list[float]:
        """Milliseconds from each message's created_at to its first arrival."""
        connection = await asyncpg.connect(plain(self.url))
        try:
            rows = await connection.fetch(
                "SELECT id::text AS id, extract(epoch FROM created_at)::float8 AS at "
                "FROM webhook_messages WHERE endpoint_id = $1", uuid.UUID(endpoint_id))
        finally:
            await connection.close()
        committed = {row["id"]: row["at"] for row in rows}
        return [(min(times) - committed[key]) * 1000 for key, times in seen.items()
                if key in committed]

    async def close(self) -> None:
        await self.api.aclose()
        await self.receiver.aclose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url or default_url()
    org_id, token = await prepare(url)
    env = environment(url)
    processes: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": args.commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"load average {os.getloadavg()[0]:.1f} at start (shared, busy)",
        "database": "postgresql",
        "worker_webhook_concurrency": args.concurrency or Settings.webhook_concurrency,
    }
    bench = None
    running: subprocess.Popen[bytes] | None = None
    try:
        processes.append(uvicorn("receiver", "bench.webhook_receiver:app",
                                 args.receiver_port, env))
        processes.append(uvicorn("api", "server:app", args.api_port, env))
        bench = Bench(args, url, org_id, token)
        fast = await bench.endpoint("fast")
        await bench.leads(20)  # warm the API up; its messages are delivered below too

        # (a) a backlog, then one worker.
        seconds = await bench.leads(args.backlog)
        result["backlog"] = {"messages": args.backlog, "failed_leads": bench.failed,
                             "queued_per_s": round(args.backlog / seconds, 1)}
        total = args.backlog + 20 - bench.failed
        started = time.time()
        running = worker(env, args.concurrency)
        seen = await bench.until("fast", total, args.wait)
        firsts = sorted(min(times) for times in seen.values())
        delivered = len(seen)
        result["throughput"] = {
            "delivered": delivered, "of": total,
            "deliveries_per_s": round(delivered / (firsts[-1] - started), 1),
            "deliveries_per_s_first_to_last": round(
                (delivered - 1) / (firsts[-1] - firsts[0]), 1),
            "seconds": round(firsts[-1] - started, 1),
            "duplicates": sum(len(times) - 1 for times in seen.values()),
            "load_average_1m": round(os.getloadavg()[0], 1),
        }
        print("throughput", result["throughput"], file=sys.stderr)

        # (b) a steady trickle with the worker running.
        await bench.receiver.post("/reset")
        count = await bench.trickle(args.rate, args.seconds)
        seen = await bench.until("fast", count, args.wait)
        result["latency"] = {"rate_per_s": args.rate, "seconds": args.seconds,
                             "delivered": len(seen), "of": count,
                             "commit_to_delivery_ms": summary(
                                 await bench.latencies(fast, seen)),
                             "load_average_1m": round(os.getloadavg()[0], 1)}
        print("latency", result["latency"], file=sys.stderr)

        # (c) a slow endpoint mixed in, at each concurrency asked for. A worker whose slots
        # are fewer than the slow endpoint needs (rate x 2 s) falls behind for good: its trickle
        # is cut to --short-seconds so the phase ends.
        slow = await bench.endpoint("slow")
        result["isolation"] = []
        for concurrency in args.isolation_concurrency:
            stop(running)
            running = worker(env, concurrency)
            await bench.receiver.post("/reset")
            # The worker is up once a probe reached both endpoints (the slow one answered).
            await bench.lead()
            await bench.until("fast", 1, args.wait)
            await bench.until("slow", 1, args.wait)
            await asyncio.sleep(2.5)
            await bench.receiver.post("/reset")
            rate = args.isolation_rate or args.rate
            # The slow endpoint takes at most its lanes' slots; the fast one needs one or two.
            slots = concurrency or Settings.webhook_concurrency
            saturated = slots < min(rate * 2, Settings.webhook_lanes_per_endpoint) + 2
            seconds = args.short_seconds if saturated else args.seconds
            count = await bench.trickle(rate, seconds)
            seen = await bench.until("fast", count, args.wait)
            slow_seen = await bench.until("slow", count, args.wait)
            outcome = {
                "worker_webhook_concurrency": slots,
                "lanes_per_endpoint": Settings.webhook_lanes_per_endpoint, "rate_per_s": rate,
                "seconds": seconds, "slow_answer_s": 2,
                "fast": {"delivered": len(seen), "of": count,
                         "commit_to_delivery_ms": summary(await bench.latencies(fast, seen))},
                "slow": {"delivered": len(slow_seen), "of": count,
                         "commit_to_delivery_ms": summary(
                             await bench.latencies(slow, slow_seen))},
                "load_average_1m": round(os.getloadavg()[0], 1),
            }
            result["isolation"].append(outcome)
            print("isolation", outcome, file=sys.stderr)
    finally:
        stop(running)
        for process in reversed(processes):
            stop(process)
        if bench is not None:
            await bench.close()
    result["failed_leads"] = bench.failed if bench is not None else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=0,
                        help="the worker's webhook slots in (a) and (b) (0: its default, "
                             "WEBHOOK_CONCURRENCY)")
    parser.add_argument("--isolation-concurrency", type=lambda v: [int(n) for n in v.split(",")],
                        default=[0], help="the worker's webhook slots in (c), e.g. 0,64 "
                                          "(0: its default)")
    parser.add_argument("--isolation-rate", type=float, default=None,
                        help="(c)'s leads a second (default: --rate)")
    parser.add_argument("--short-seconds", type=float, default=5.0,
                        help="(c)'s trickle when the slow endpoint needs more slots than exist")
    parser.add_argument("--wait", type=float, default=300.0,
                        help="longest wait for a phase's deliveries, in seconds")
    parser.add_argument("--api-port", type=int, default=18090)
    parser.add_argument("--receiver-port", type=int, default=18091)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "webhooks.json"))
    args = parser.parse_args()
    args.commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.strip()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
