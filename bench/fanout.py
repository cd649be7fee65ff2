"""Fan-out of subscriptions: many subscribers of one org on one server process.

It makes an org with `--subscribers` members (each with a session of their own, written
directly), starts the API (one uvicorn process, in-process broker unless `--redis` is given),
times `--events` `createLead` mutations with nobody subscribed, then connects one WebSocket per
member subscribed to `leadEvents`, and times the same mutations again while measuring, for every
subscriber, the delay from the commit (`committedAt`, stamped by the server when it publishes
after the commit) to the moment the event reached the client. Each mutation waits for the
previous event to reach everyone, so the figures are per event, not a backlog.

    python -m bench.fanout --database-url postgres://postgres@127.0.0.1:54329/relleks_fanout
    python -m bench.fanout   # a fresh SQLite file

The clients run in this one process (a 2-core machine shares its CPU with the server): the
delivery figures include the time the client process takes to read 1,000 sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from auth.tokens import issue_access_token
from core.settings import Settings
from database import close_database, init_database, migrate_database
from models.accounts import Session, User
from models.orgs import Membership, Organization, Role

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIPTION = """subscription($org: ID!) {
  leadEvents(organizationId: $org) { type committedAt lead { id name } }
}"""
CREATE_LEAD = "mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id } } }"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def prepare(url: str, subscribers: int) -> tuple[str, str, list[str]]:
    """A fresh org with an OWNER and `subscribers` VIEWERs; their access tokens."""
    if url.startswith("postgres"):
        admin_url, _, name = url.rpartition("/")
        admin = await asyncpg.connect(f"{admin_url}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
    await migrate_database(url)
    await init_database(url)
    settings = Settings(database_url=url)
    now = datetime.now(UTC)
    org = await Organization.create(name="Fan-out", slug=f"fanout-{uuid.uuid4().hex[:6]}")
    users = [User(email=f"sub{n}@fanout.test", name=f"Subscriber {n}", password_hash="-",
                  email_verified=True, age_check_passed_at=now,
                  terms_version=settings.terms_version, terms_accepted_at=now)
             for n in range(subscribers + 1)]
    await User.bulk_create(users)
    users = await User.filter(email__endswith="@fanout.test").order_by("email")
    sessions = [Session(user_id=u.id, last_used_at=now, expires_at=now + timedelta(days=1))
                for u in users]
    await Session.bulk_create(sessions)
    sessions = await Session.filter(user_id__in=[u.id for u in users])
    by_user = {s.user_id: s for s in sessions}
    owner, *rest = users
    await Membership.bulk_create(
        [Membership(organization_id=org.id, user_id=owner.id, role=Role.OWNER)]
        + [Membership(organization_id=org.id, user_id=u.id, role=Role.VIEWER) for u in rest])
    tokens = [issue_access_token(settings, u.id, by_user[u.id].id)[0] for u in users]
    await close_database()
    from strawberry import relay
    return str(relay.GlobalID("Organization", str(org.id))), tokens[0], tokens[1:]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used: steady where wall time is not, on a
    shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(url: str, port: int, redis: str | None) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items()
           if key not in {"REDIS_URL", "SMTP_URL"}}
    env.update(DATABASE_URL=url, LOG_LEVEL="WARNING", COST_BUDGET_SCALE="1000",
               REALTIME_CHANNEL_PREFIX=f"fanout-{uuid.uuid4().hex[:6]}:",
               ACCESS_TOKEN_TTL="3600",
               # Every subscriber connects from 127.0.0.1: lift the per-IP cap on sockets.
               WS_MAX_SOCKETS_PER_IP="1000000")
    if redis:
        env["REDIS_URL"] = redis
    log = open(Path(tempfile.gettempdir()) / "relleks-fanout-server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port",
         str(port), "--no-access-log"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("fanout: the server did not start")


class Tally:
    """How many clients subscribed, and got each event; wakes whoever waits for all of them."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.counts: dict[str, int] = {}
        self.complete: dict[str, asyncio.Event] = {}

    def add(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] >= self.clients:
            self._event(key).set()

    def _event(self, key: str) -> asyncio.Event:
        return self.complete.setdefault(key, asyncio.Event())

    async def everyone(self, key: str, wait: float = 120) -> None:
        """Until every client counted `key`; TimeoutError after `wait` seconds."""
        await asyncio.wait_for(self._event(key).wait(), wait)


class Client:
    """One subscriber: the arrival time of each event, by lead name."""

    def __init__(self, tally: Tally) -> None:
        self.arrivals: dict[str, tuple[float, float]] = {}
        self.tally = tally

    async def run(self, url: str, token: str, org_id: str, ready: asyncio.Semaphore) -> None:
        async with ready:
            socket = await connect(url, subprotocols=[Subprotocol("graphql-transport-ws")],
                                   open_timeout=60, max_queue=None)
            await socket.send(orjson.dumps({"type": "connection_init",
                                            "payload": {"token": token}}).decode())
            ack = orjson.loads(await socket.recv())
            assert ack["type"] == "connection_ack", ack
            await socket.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": SUBSCRIPTION, "variables": {"org": org_id}}}).decode())
        self.tally.add("subscribed")
        await self.read(socket)

    async def read(self, socket: ClientConnection) -> None:
        async for raw in socket:
            at = time.time()
            message = orjson.loads(raw)
            if message.get("type") != "next":
                print("fanout: unexpected", message, file=sys.stderr)
                continue
            event = message["payload"]["data"]["leadEvents"]
            committed = datetime.fromisoformat(event["committedAt"]).timestamp()
            self.arrivals[event["lead"]["name"]] = (committed, at)
            self.tally.add(event["lead"]["name"])


async def mutate(http: httpx.AsyncClient, org_id: str, token: str, name: str) -> float:
    started = time.perf_counter()
    response = await http.post("/graphql", json={"query": CREATE_LEAD, "variables": {
        "input": {"organizationId": org_id, "name": name}}},
        headers={"authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    assert "errors" not in response.json(), response.text
    return elapsed * 1000


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url or f"sqlite://{tempfile.mkdtemp()}/fanout.sqlite3"
    org_id, owner, tokens = await prepare(url, args.subscribers)
    server = start_server(url, args.port, args.redis)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}",
                                     timeout=60) as http:
            for n in range(5):  # warm-up
                await mutate(http, org_id, owner, f"warm-{n}")
            alone = [await mutate(http, org_id, owner, f"alone-{n}")
                     for n in range(args.events)]

            tally = Tally(len(tokens))
            clients = [Client(tally) for _ in tokens]
            ready = asyncio.Semaphore(50)
            ws = f"ws://127.0.0.1:{args.port}/graphql"
            started = time.perf_counter()
            tasks = [asyncio.create_task(c.run(ws, t, org_id, ready))
                     for c, t in zip(clients, tokens, strict=True)]
            await tally.everyone("subscribed", 600)
            # Every subscription is registered once a probe event reaches everyone.
            for n in range(20):
                await mutate(http, org_id, owner, f"probe-{n}")
                try:
                    await tally.everyone(f"probe-{n}", 30)
                    break
                except TimeoutError:
                    continue
            else:
                raise SystemExit("fanout: the subscriptions never all received a probe")
            connect_seconds = time.perf_counter() - started

            loaded: list[float] = []
            delays: list[float] = []
            last: list[float] = []
            cpu_before = cpu_seconds(server.pid)
            for n in range(args.events):
                name = f"event-{n}"
                loaded.append(await mutate(http, org_id, owner, name))
                await tally.everyone(name)
                mine = [(at - committed) * 1000
                        for committed, at in (c.arrivals[name] for c in clients)]
                delays += mine
                last.append(max(mine))
            cpu_per_event = (cpu_seconds(server.pid) - cpu_before) / args.events
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.terminate()
        server.wait(30)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": url.split(":", 1)[0],
        "broker": "redis" if args.redis else "in-process",
        "subscribers": args.subscribers,
        "events": args.events,
        "connect_and_subscribe_s": round(connect_seconds, 1),
        # commit to arrival, every subscriber of every event
        "delivery_ms": {"p50": round(statistics.median(delays), 1),
                        "p99": round(percentile(delays, 0.99), 1),
                        "max": round(max(delays), 1)},
        # commit to the last subscriber's arrival, per event
        "last_subscriber_ms": {"p50": round(statistics.median(last), 1),
                               "max": round(max(last), 1),
                               "each": [round(ms) for ms in last]},
        # the server's CPU per event (its mutation and every delivery), and per delivery
        "server_cpu_ms_per_event": round(cpu_per_event * 1000, 1),
        "server_cpu_ms_per_delivery": round(cpu_per_event * 1000 / len(tokens), 2),
        "mutation_ms_without_subscribers": {"p50": round(statistics.median(alone), 1),
                                            "p99": round(percentile(alone, 0.99), 1)},
        "mutation_ms_with_subscribers": {"p50": round(statistics.median(loaded), 1),
                                         "p99": round(percentile(loaded, 0.99), 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis", default=None, help="a Redis URL: use the Redis broker")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--port", type=int, default=18083)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "fanout.json"))
    args = parser.parse_args()
    result = asyncio.run(bench(args))
    print(json.dumps(result, indent=2))
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
