"""`make soak`: a realistic mix against a fleet of API processes for ten minutes, at about 70% of
the mix's measured peak, recording throughput, p50/p99 per operation, errors and each process's
resident memory (RSS) every 30 s. Results go to `bench/results/soak.json`.

The mix (the share of requests in brackets): Q1 (`bench/q1.graphql`, a MEMBER of org-1) [40%],
a page of org-2's leads with their notes [15%], a lead search in org-2 [10%], `me` [5%],
`createLead` [15%] and `addNote` [15%] in org-2 (an OWNER); besides it, a stream of public form
submissions to a form of org-2 (`SOAK_FORM_RATE` a second, default 0.5), each as a browser with
JavaScript sends it: the challenge fetched, solved with the `altcha` package's solver, the form's
`minSeconds` waited, then posted as JSON from one of the form's origins; and `SOAK_SUBSCRIBERS`
(10) WebSockets, one per member of org-2, subscribed to `leadEvents`, counting what reaches
them against the leads and notes the run made; they read in a process of their own
(`bench/soak_subscribers.py`), so that the load client's CPU does not make them slow readers,
and each reports its events and whether the server ended its subscription. In the middle,
the abusive batch of `bench/abuse.py` is sent once and the RSS read before and after it.

Steps: load the Q1 data set into its own database (`bench/load_data.py`, once; the writes go to
org-2, so org-1's Q1 stays the same), start two fleets side by side (1 and 2 API processes,
`python -m scripts.serve --workers N`, plus a `jobs.worker` for the 2-process one), time Q1's
peak on each with wrk in alternating rounds, stop the 1-process fleet, ramp the mix on the other
to find its peak (closed loop, growing concurrency), then run the soak open loop at
`SOAK_LOAD` (0.7) of that peak for `SOAK_SECONDS` (600).

The client runs on the same machine as the fleet, in one Python process (and the subscribers in
another): its own CPU use is part of what the machine does, so the peak measured is the peak of
this machine with this client. The ramp runs with the subscribers connected (a process of them
of its own, discarded after it), so that the peak includes the server's fan-out of events.

    python -m bench.soak                    # SOAK_SECONDS=60 for a short run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import altcha
import asyncpg
import httpx
import orjson

from bench.abuse import AbuseBatch
from bench.load_data import BENCH_PASSWORD
from bench.soak_subscribers import SubscriberProcess

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOGS = Path(tempfile.gettempdir()) / "relleks-soak"
# The bench's own KEK, as bench/run.sh's (bench data only: never a deployment's).
KEK_BASE64 = "cmVsbGVrcy1iZW5jaC1vbmx5LWtlay1ub3QtcHJvZCE="
SITE = "https://www.soak.test"
Q1 = (BENCH / "q1.graphql").read_text()
LOG_IN = "mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }"
ORG = """query($slug: String!) { organization(slug: $slug) { id
  leads(first: 50) { nodes { id } } leadForms(first: 10) { nodes { id publicId } } } }"""
ACCEPTED = """query($id: ID!) { leadForm(id: $id) {
  submissions(status: [ACCEPTED], first: 0) { totalCount } } }"""
CREATE_FORM = """mutation($input: CreateLeadFormInput!) { createLeadForm(input: $input) {
  leadForm { id publicId } } }"""
LEADS_PAGE = """query LeadsPage($slug: String!) { organization(slug: $slug) {
  leads(first: 20) { nodes { id name status company notes(first: 3) { nodes { body } } } } } }"""
SEARCH = """query Search($slug: String!, $search: String!) { organization(slug: $slug) {
  leads(first: 10, filter: {search: $search}) { nodes { id name } } } }"""
ME = "query Me { me { id name email } }"
CREATE_LEAD = """mutation CreateLead($input: CreateLeadInput!) { createLead(input: $input) {
  lead { id } } }"""
ADD_NOTE = """mutation AddNote($input: AddNoteInput!) { addNote(input: $input) { note { id } } }"""
CLIENT_KEEPALIVE_EXPIRY = 5.0
"""Seconds the client keeps an idle connection: shorter than the server's KEEPALIVE_TIMEOUT."""
MIX = {"q1": 40, "leads_page": 15, "search": 10, "me": 5, "create_lead": 15, "add_note": 15}
# Users of the bench data: user4 is a MEMBER of org-1, user21 the OWNER of org-2, users 22-40
# its other members (bench/load_data.py).
READER, WRITER, FIRST_SUBSCRIBER = 4, 21, 22


def env_number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# The fleet.

def children(pid: int) -> list[int]:
    """The direct children of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (VmRSS), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


BUSINESS_PLAN = """
INSERT INTO billing_accounts (id, created_at, subscription_plan, status, cancel_at_period_end,
                              updated_at, organization_id)
SELECT gen_random_uuid(), now(), 'business', 'active', false, now(), id
FROM organizations WHERE slug = 'org-2'
ON CONFLICT (organization_id) DO UPDATE SET subscription_plan = 'business', status = 'active'
"""


async def business_plan(database_url: str) -> None:
    """org-2 on the BUSINESS plan (as a paying customer would be): the FREE plan's 1,000 leads,
    which the data set already holds, would refuse every write of the soak."""
    connection = await asyncpg.connect(database_url.split("?", 1)[0])
    try:
        await connection.execute(BUSINESS_PLAN)
    finally:
        await connection.close()


def fleet_env(database_url: str, redis_url: str) -> dict[str, str]:
    keystore = subprocess.run(
        [sys.executable, "-c", "import sys; from core.settings import default_keystore_url as k;"
         " print(k(sys.argv[1]))", database_url], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.strip()
    env = {key: value for key, value in os.environ.items()
           if key not in {"REDIS_URL", "SMTP_URL", "PROMETHEUS_MULTIPROC_DIR"}
           and not key.startswith(("STRIPE_", "OTEL_", "SENTRY_"))}
    env.update(
        DATABASE_URL=database_url, KEYSTORE_URL=keystore, KEK_BASE64=KEK_BASE64,
        REDIS_URL=redis_url, REALTIME_CHANNEL_PREFIX=f"soak-{uuid.uuid4().hex[:6]}:",
        LOG_LEVEL="WARNING", JOBS_IN_PROCESS="false", ACCESS_TOKEN_TTL="7200",
        # One client from 127.0.0.1 plays every user: the per-IP and per-account limits are
        # lifted, the cost budget scaled up (still computed and charged on every request).
        LOGIN_RATE_PER_ACCOUNT="100000/minute", LOGIN_RATE_PER_IP="100000/minute",
        COST_BUDGET_SCALE="1000", FORM_RATE_PER_IP="100000/minute",
        FORM_RATE_PER_FORM="100000/minute", WS_MAX_SOCKETS_PER_IP="100000",
        SECRET_KEY=os.environ.get("SOAK_SECRET_KEY", "soak-only-secret-key-" + "x" * 32))
    return env


@dataclass
class StandInFleet:
    """N API processes (`scripts.serve --workers N`) and, optionally, a job worker."""

    port: int
    workers: int
    env: dict[str, str]
    with_worker: bool = True
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        LOGS.mkdir(exist_ok=True)
        log = open(LOGS / f"{name}.log", "ab")  # the child keeps it open
        process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start(self) -> None:
        self.server = self.spawn(f"api-{self.port}", [
            sys.executable, "-m", "scripts.serve", "--host", "127.0.0.1", "--port",
            str(self.port), "--workers", str(self.workers)])
        if self.with_worker:
            self.worker = self.spawn("worker", [sys.executable, "-m", "jobs.worker"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SystemExit(f"soak: the API exited; see {LOGS}/api-{self.port}.log")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200 and \
                        len(self.api_pids()) == self.workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"soak: the API did not start; see {LOGS}/api-{self.port}.log")

    def api_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's workers (the server itself when one)."""
        if self.workers == 1:
            return [self.server.pid]
        return sorted(pid for pid in children(self.server.pid)
                      if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"))

    def other_pids(self) -> dict[str, int]:
        pids = {"supervisor": self.server.pid} if self.workers > 1 else {}
        if self.with_worker:
            pids["jobs_worker"] = self.worker.pid
        return pids

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class ServeFleet:
    """`make serve`'s fleet (`scripts/fleet.py`): PostgreSQL on its own port and data
    directory, PgBouncer in transaction pooling mode, Redis, `workers` API processes and a job
    worker; the Q1 data set is loaded into its database once, after its migrations (the data
    directory, `SOAK_FLEET_DIR`, is kept between runs). Ports of their own
    (`SOAK_PORT`, and PostgreSQL, PgBouncer and Redis beside the ones `make serve` uses)."""

    def __init__(self, port: int, workers: int, env: dict[str, str], state: Path) -> None:
        from scripts.fleet import Fleet

        soak_env = env

        class SoakFleet(Fleet):
            def environment(self) -> dict[str, str]:
                return {**soak_env, **super().environment()}

            def migrate(self) -> None:
                super().migrate()
                direct = {**self.environment(), "DATABASE_URL": self.direct_url,
                          "DATABASE_POOLER": "session",
                          "KEYSTORE_URL": f"{self.direct_url}_keystore"}
                direct.pop("PROMETHEUS_MULTIPROC_DIR", None)
                subprocess.run([sys.executable, "-m", "bench.load_data", "--url",
                                self.direct_url], cwd=ROOT, env=direct, check=True)
                asyncio.run(business_plan(self.direct_url))

        self.fleet = SoakFleet(state=state, port=port, pg_port=port + 37352,
                               pgbouncer_port=port + 46240, redis_port=port + 45720,
                               web_concurrency=workers, job_workers=1, demo=False)
        self.port, self.workers = port, workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return self.fleet.environment()

    def start(self) -> None:
        try:
            self.fleet.up()
        except BaseException:
            self.fleet.down()
            raise

    def _pid(self, name: str) -> int:
        return next(process.pid for n, process in self.fleet.processes if n == name)

    def api_pids(self) -> list[int]:
        return sorted(pid for pid in children(self._pid("api"))
                      if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"))

    def other_pids(self) -> dict[str, int]:
        return {"supervisor": self._pid("api"), "jobs_worker": self._pid("worker-1")}

    def stop(self) -> None:
        self.fleet.down()


Fleet = StandInFleet | ServeFleet


# Q1's peak: wrk, as `make bench` times it.

def wrk_q1(url: str, token: str, seconds: int, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="soak-q1-") as body:
        json.dump({"query": Q1, "variables": {"slug": "org-1"}}, body)
        body.flush()
        run = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s",
             str(BENCH / "q1.lua"), f"{url}/graphql"],
            env=dict(os.environ, BENCH_BODY_FILE=body.name, BENCH_TOKEN=token),
            capture_output=True, text=True, check=False)
    lines = [line for line in run.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if run.returncode != 0 or not lines:
        raise SystemExit(f"soak: wrk failed on {url}: {run.stderr or run.stdout}")
    figures = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    return {"requests_per_s": round(figures["requests"] / (figures["duration_us"] / 1e6), 1),
            "p50_ms": round(figures["latency_us"]["p50"] / 1000, 1),
            "p99_ms": round(figures["latency_us"]["p99"] / 1000, 1),
            "bad_answers": figures["bad_answers"],
            "socket_errors": sum(figures["socket_errors"].values())}


def q1_peaks(fleets: dict[str, Fleet], token: str, rounds: int, seconds: int,
             connections: int) -> dict[str, Any]:
    """Alternating rounds on each fleet; a fleet's peak is its rounds' mean."""
    for fleet in fleets.values():
        wrk_q1(fleet.url, token, 5, connections)  # warm-up
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in fleets}
    names = list(fleets)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            figures = wrk_q1(fleets[name].url, token, seconds, connections)
            found[name].append(figures)
            print(f"soak: Q1 round {i + 1} {name}: {figures['requests_per_s']} req/s, "
                  f"p99 {figures['p99_ms']} ms", file=sys.stderr)
    return {name: {
        "requests_per_s": round(statistics.mean(r["requests_per_s"] for r in rs), 1),
        "p50_ms": statistics.median(r["p50_ms"] for r in rs),
        "p99_ms": max(r["p99_ms"] for r in rs),
        "errors": sum(r["bad_answers"] + r["socket_errors"] for r in rs),
        "rounds": rs} for name, rs in found.items()}


# The mix.

def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def ok(self, op: str, ms: float) -> None:
        self.latencies.setdefault(op, []).append(ms)

    def error(self, op: str, what: str) -> None:
        self.errors[op] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{op}: {what[:300]}")

    def summary(self, seconds: float) -> dict[str, Any]:
        ops = sorted(set(self.latencies) | set(self.errors))
        return {op: {
            "requests": len(self.latencies.get(op, [])) + self.errors[op],
            "per_s": round((len(self.latencies.get(op, [])) + self.errors[op]) / seconds, 2),
            "p50_ms": round(percentile(self.latencies[op], 0.5), 1)
            if self.latencies.get(op) else None,
            "p99_ms": round(percentile(self.latencies[op], 0.99), 1)
            if self.latencies.get(op) else None,
            "errors": self.errors[op]} for op in ops}


class Driver:
    """The clients of the mix, sharing one HTTP connection pool."""

    def __init__(self, url: str) -> None:
        self.url = url
        # The client drops an idle connection first (5 s, well under the server's
        # KEEPALIVE_TIMEOUT, 75 s): with both at 5 s the server's close raced the pool's reuse
        # (docs/deployment.md, "Keep-alive").
        self.http = httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(
            max_connections=64, keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY))
        self.stats = Stats()
        self.lead_ids: list[str] = []
        self.made = Counter[str]()  # leads and notes made (each an event per subscriber)

    async def gql(self, query: str, variables: dict[str, Any], token: str | None
                  ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json={"query": query,
                                                          "variables": variables},
                                        headers=headers)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{response.status_code} {json.dumps(body)[:300]}")
        return body["data"]

    async def log_in(self, user: int) -> str:
        data = await self.gql(LOG_IN, {"input": {"email": f"user{user}@example.com",
                                                 "password": BENCH_PASSWORD}}, None)
        return data["logIn"]["accessToken"]

    async def prepare(self, subscribers: int) -> None:
        self.reader = await self.log_in(READER)
        self.writer = await self.log_in(WRITER)
        self.subscriber_tokens = [await self.log_in(FIRST_SUBSCRIBER + n)
                                  for n in range(subscribers)]
        org = (await self.gql(ORG, {"slug": "org-2"}, self.writer))["organization"]
        self.org_id = org["id"]
        self.lead_ids = [node["id"] for node in org["leads"]["nodes"]]
        forms = org["leadForms"]["nodes"]
        if not forms:
            made = await self.gql(CREATE_FORM, {"input": {
                "organizationId": self.org_id, "name": "Soak",
                "fields": [{"name": "NAME", "required": True},
                           {"name": "EMAIL", "required": True}, {"name": "MESSAGE"}],
                "allowedOrigins": [SITE]}}, self.writer)
            forms = [made["createLeadForm"]["leadForm"]]
        self.form_public_id = forms[0]["publicId"]
        self.form_id = forms[0]["id"]

    async def accepted_submissions(self) -> int:
        """How many of the form's submissions were accepted (not held, not spam), so far."""
        answer = await self.gql(ACCEPTED, {"id": self.form_id}, self.writer)
        return int(answer["leadForm"]["submissions"]["totalCount"])

    # One operation each.

    async def op(self, name: str) -> None:
        started = time.perf_counter()
        try:
            await getattr(self, f"do_{name}")()
        except Exception as exc:  # every failure is an error of the run, counted and shown
            self.stats.error(name, f"{type(exc).__name__}: {exc}")
            return
        self.stats.ok(name, (time.perf_counter() - started) * 1000)

    async def do_q1(self) -> None:
        data = await self.gql(Q1, {"slug": "org-1"}, self.reader)
        if len(data["organization"]["leads"]["nodes"]) != 50:
            raise RuntimeError("Q1 answered fewer than 50 leads")

    async def do_leads_page(self) -> None:
        await self.gql(LEADS_PAGE, {"slug": "org-2"}, self.writer)

    async def do_search(self) -> None:
        await self.gql(SEARCH, {"slug": "org-2", "search": f"Lead {random.randint(1, 999)}"},
                       self.writer)

    async def do_me(self) -> None:
        await self.gql(ME, {}, self.reader)

    async def do_create_lead(self) -> None:
        n = uuid.uuid4().hex[:10]
        data = await self.gql(CREATE_LEAD, {"input": {
            "organizationId": self.org_id, "name": f"Soak {n}", "email": f"soak-{n}@example.com",
            "company": "Soak Ltd", "tags": ["soak"]}}, self.writer)
        self.made["lead.created"] += 1
        self.lead_ids.append(data["createLead"]["lead"]["id"])
        del self.lead_ids[:-500]

    async def do_add_note(self) -> None:
        await self.gql(ADD_NOTE, {"input": {"leadId": random.choice(self.lead_ids),
                                            "body": "Called back, " * random.randint(1, 20)}},
                       self.writer)
        self.made["note.added"] += 1

    async def form_submission(self) -> None:
        """A browser with JavaScript: the challenge, solved; the form's minimum time; the post."""
        path = f"/f/{self.form_public_id}"
        started = time.perf_counter()
        try:
            response = await self.http.get(f"{path}/challenge", headers={"origin": SITE})
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.text[:200]}")
            ready = response.json()
            self.stats.ok("form_challenge", (time.perf_counter() - started) * 1000)
            challenge = altcha.Challenge.from_dict(ready["challenge"])
            solution = await asyncio.to_thread(altcha.solve_challenge, challenge)
            if solution is None:
                raise RuntimeError("the challenge has no solution")
            await asyncio.sleep(max(0.0, ready["minSeconds"] + 0.2
                                    - (time.perf_counter() - started)))
        except Exception as exc:
            self.stats.error("form_challenge", f"{type(exc).__name__}: {exc}")
            return
        n = uuid.uuid4().hex[:10]
        posted = time.perf_counter()
        try:
            response = await self.http.post(path, content=orjson.dumps({
                "name": f"Form {n}", "email": f"form-{n}@example.com", "message": "Hello",
                "stamp": ready["stamp"],
                "altcha": altcha.Payload(challenge, solution).to_base64()}),
                headers={"content-type": "application/json", "origin": SITE})
            if response.status_code != 200 or not response.json().get("ok"):
                raise RuntimeError(f"{response.status_code} {response.text[:200]}")
        except Exception as exc:
            self.stats.error("form_submit", f"{type(exc).__name__}: {exc}")
            return
        self.made["form.accepted"] += 1
        self.stats.ok("form_submit", (time.perf_counter() - posted) * 1000)

    async def close(self) -> None:
        await self.http.aclose()


def pick() -> str:
    return random.choices(list(MIX), weights=list(MIX.values()))[0]


async def closed_loop(driver: Driver, concurrency: int, seconds: float) -> float:
    """Requests of the mix completed per second with `concurrency` clients back to back."""
    before = sum(len(v) for v in driver.stats.latencies.values())
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            await driver.op(pick())

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    done = sum(len(v) for v in driver.stats.latencies.values()) - before
    return done / (time.monotonic() - started)


async def open_loop(driver: Driver, rate: float, seconds: float, form_rate: float,
                    max_in_flight: int, shed: Counter[str]) -> None:
    """Requests of the mix started at `rate` a second (and form submissions at `form_rate`),
    whatever the answers' pace; past `max_in_flight` waiting, a request is shed and counted."""
    in_flight: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    sent = forms = 0
    while (now := time.monotonic() - started) < seconds:
        while sent < now * rate:
            sent += 1
            if len(in_flight) >= max_in_flight:
                shed["mix"] += 1
                continue
            task = asyncio.create_task(driver.op(pick()))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        while forms < now * form_rate:
            forms += 1
            task = asyncio.create_task(driver.form_submission())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.sleep(0.005)
    if in_flight:
        await asyncio.wait(in_flight, timeout=60)


class RssLog:
    """Each process's RSS every `every` seconds, and on demand with a label."""

    def __init__(self, fleet: Fleet, every: float) -> None:
        self.fleet, self.every = fleet, every
        self.started = time.monotonic()
        self.samples: list[dict[str, Any]] = []
        self.names = {pid: f"api-{n + 1}" for n, pid in enumerate(fleet.api_pids())}
        self.names.update({pid: name for name, pid in fleet.other_pids().items()})

    def sample(self, label: str | None = None) -> dict[str, Any]:
        sample: dict[str, Any] = {"t_s": round(time.monotonic() - self.started, 1),
                                  "rss_mb": {name: rss_mb(pid)
                                             for pid, name in self.names.items()}}
        if label:
            sample["label"] = label
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)

    def summary(self, warm_s: float) -> dict[str, Any]:
        regular = [s for s in self.samples if "label" not in s]
        warm = next((s for s in regular if s["t_s"] >= warm_s), regular[-1])
        last = regular[-1]
        result = {}
        for name in self.names.values():
            values = [s["rss_mb"][name] for s in regular if s["rss_mb"][name] is not None]
            w, end = warm["rss_mb"][name], last["rss_mb"][name]
            result[name] = {"start_mb": values[0] if values else None, "warm_mb": w,
                            "max_mb": max(values) if values else None, "last_mb": end,
                            "growth_after_warm_up_pct":
                                round((end - w) * 100 / w, 1) if w and end else None}
        return result


async def soak(args: argparse.Namespace, fleet: Fleet, driver: Driver) -> dict[str, Any]:
    # The peak is the mix's WITH its subscribers: each event the mix makes is a GraphQL
    # execution per subscriber on the server, work a ramp without them would leave out (70% of
    # that peak overloaded the fleet, and the slow-reader bound ended the subscribers). These
    # subscribers only load the server; at the ramp's closed-loop peak they may well be ended,
    # and then subscribe again a second later (as the JavaScript client does), so that every
    # step of the ramp pays for the fan-out.
    loading = SubscriberProcess(fleet.url, driver.org_id, driver.subscriber_tokens,
                                resubscribe=True)
    await loading.start()
    ramp = {}
    try:
        for concurrency in args.ramp:
            rate = await closed_loop(driver, concurrency, args.ramp_seconds)
            ramp[concurrency] = round(rate, 1)
            print(f"soak: ramp {concurrency} clients: {rate:.1f} req/s", file=sys.stderr)
    finally:
        ramp_subscribers = await loading.stop()
    ramp_errors = dict(driver.stats.errors)
    peak = max(ramp.values())
    rate = round(peak * args.load, 1)
    print(f"soak: peak {peak} req/s; soaking at {rate} req/s for {args.seconds} s",
          file=sys.stderr)

    driver.stats = Stats()
    driver.made.clear()
    accepted_before = await driver.accepted_submissions()
    # The subscribers read in a process of their own (`bench/soak_subscribers.py`): this one
    # is busy sending the load, and a subscriber that falls behind is ended by the server.
    subscribers = SubscriberProcess(fleet.url, driver.org_id, driver.subscriber_tokens)
    at_start = await subscribers.start()
    failed = [r for r in at_start if r["closed_by_server"] or r["errors"]]
    if failed:
        raise SystemExit(f"soak: subscribers failed to subscribe: {failed}")
    await asyncio.sleep(1)  # the subscriptions are registered after their permission check

    rss = RssLog(fleet, args.rss_every)
    sampler = asyncio.create_task(rss.run())
    shed: Counter[str] = Counter()
    abuse: dict[str, Any] = {}

    async def abuse_in_the_middle() -> None:
        await asyncio.sleep(args.seconds / 2)
        abuse["rss_before"] = rss.sample("before abuse")
        batch = AbuseBatch(token=driver.writer, org_id=driver.org_id,
                           form_public_id=driver.form_public_id)
        async with httpx.AsyncClient(base_url=fleet.url, timeout=120) as http:
            started = time.monotonic()
            tally = await batch.run(http, rounds=1, concurrency=4)
        abuse.update(requests=tally.total, seconds=round(time.monotonic() - started, 1),
                     unexpected=tally.unexpected[:20], unexpected_count=len(tally.unexpected))
        abuse["rss_after"] = rss.sample("after abuse")

    middle = asyncio.create_task(abuse_in_the_middle())
    started = time.monotonic()
    await open_loop(driver, rate, args.seconds, args.form_rate, args.max_in_flight, shed)
    elapsed = time.monotonic() - started
    await middle
    await asyncio.sleep(3)  # the last events on their way
    rss.sample("end")
    sampler.cancel()
    heard = await subscribers.stop()

    # Each lead made and each note is one event per subscriber, by the `type` its `leadEvents`
    # gives. A form post answered `ok` may have been accepted (a lead, and its message as the
    # lead's first note: CREATED and NOTE_ADDED) or held or filed as spam (nothing published;
    # the answer does not tell a bot which): the form's ACCEPTED submissions say how many were.
    forms_accepted = await driver.accepted_submissions() - accepted_before
    expected = {"CREATED": driver.made["lead.created"] + forms_accepted,
                "NOTE_ADDED": driver.made["note.added"] + forms_accepted}
    per_subscriber = heard["subscribers"]
    for report in per_subscriber:
        report["missing"] = sum(max(0, n - report["received"].get(kind, 0))
                                for kind, n in expected.items())
    delays = heard["delays_ms"]
    operations = driver.stats.summary(elapsed)
    requests = sum(o["requests"] for o in operations.values())
    errors = sum(o["errors"] for o in operations.values())
    return {
        "ramp": {"concurrency_to_requests_per_s": ramp, "errors": ramp_errors,
                 "step_s": args.ramp_seconds, "peak_requests_per_s": peak,
                 "with_subscribers": len(driver.subscriber_tokens),
                 "subscribers_ended_by_the_server": sum(
                     r["resubscribed"] for r in ramp_subscribers["subscribers"])
                 + sum(1 for r in ramp_subscribers["subscribers"] if r["closed_by_server"]),
                 "subscriber_events": sum(r["events"] for r in ramp_subscribers["subscribers"])},
        "target_requests_per_s": rate, "load": args.load, "form_rate_per_s": args.form_rate,
        "seconds": round(elapsed, 1), "requests": requests,
        "throughput_per_s": round(requests / elapsed, 1), "errors": errors,
        "error_examples": driver.stats.examples, "shed": dict(shed),
        "operations": operations,
        "subscriptions": {
            "subscribers": len(driver.subscriber_tokens),
            "client": "a process of its own (bench/soak_subscribers.py)",
            "expected_per_subscriber": expected,
            "form_posts_answered_ok": driver.made["form.accepted"],
            "form_submissions_accepted": forms_accepted,
            "per_subscriber": per_subscriber,
            "closed_by_server": sum(1 for r in per_subscriber if r["closed_by_server"]),
            "missing": sum(r["missing"] for r in per_subscriber),
            "delivery_p50_ms": round(percentile(delays, 0.5), 1) if delays else None,
            "delivery_p99_ms": round(percentile(delays, 0.99), 1) if delays else None},
        "abuse": abuse,
        "rss": {"every_s": args.rss_every, "warm_up_s": args.warm_up,
                "summary": rss.summary(args.warm_up), "samples": rss.samples},
    }


def table(result: dict[str, Any]) -> str:
    soak = result["soak"]
    lines = ["| operation | req/s | p50 ms | p99 ms | errors |", "| --- | --- | --- | --- | --- |"]
    for op, s in soak["operations"].items():
        lines.append(f"| {op} | {s['per_s']} | {s['p50_ms']} | {s['p99_ms']} | {s['errors']} |")
    lines += ["", "| process | warm RSS MB | max | last | growth after warm-up |",
              "| --- | --- | --- | --- | --- |"]
    for name, r in soak["rss"]["summary"].items():
        lines.append(f"| {name} | {r['warm_mb']} | {r['max_mb']} | {r['last_mb']} | "
                     f"{r['growth_after_warm_up_pct']}% |")
    subscriptions = soak["subscriptions"]
    lines += ["", f"subscribers: {subscriptions['subscribers']}, expected each "
              f"{subscriptions['expected_per_subscriber']}, missing {subscriptions['missing']}, "
              f"closed by the server {subscriptions['closed_by_server']}, delivery p50 "
              f"{subscriptions['delivery_p50_ms']} ms, p99 {subscriptions['delivery_p99_ms']} ms"]
    lines += [f"  subscriber {r['subscriber']}: {r['events']} events {r['received']}"
              for r in subscriptions["per_subscriber"]]
    return "\n".join(lines)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()


async def drive(args: argparse.Namespace, fleet: Fleet) -> dict[str, Any]:
    driver = Driver(fleet.url)
    try:
        await driver.prepare(args.subscribers)
        return await soak(args, fleet, driver)
    finally:
        await driver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=env_number("SOAK_SECONDS", 600))
    parser.add_argument("--load", type=float, default=env_number("SOAK_LOAD", 0.7))
    parser.add_argument("--form-rate", type=float, default=env_number("SOAK_FORM_RATE", 0.5))
    parser.add_argument("--subscribers", type=int, default=int(env_number("SOAK_SUBSCRIBERS",
                                                                          10)))
    parser.add_argument("--ramp", type=int, nargs="+", default=[2, 4, 8, 16, 24])
    parser.add_argument("--ramp-seconds", type=float, default=env_number("SOAK_RAMP_SECONDS", 15))
    parser.add_argument("--warm-up", type=float, default=60,
                        help="seconds after which RSS counts as warm")
    parser.add_argument("--rss-every", type=float, default=30)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--q1-rounds", type=int, default=int(env_number("SOAK_Q1_ROUNDS", 3)))
    parser.add_argument("--q1-seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=int(env_number("SOAK_PORT", 18090)))
    parser.add_argument("--database-url", default=os.environ.get(
        "SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:54329/relleks_soak"))
    parser.add_argument("--redis-url", default=os.environ.get(
        "SOAK_REDIS_URL", "redis://127.0.0.1:63799/13"))
    parser.add_argument("--fleet", choices=("serve", "stand-in"),
                        default=os.environ.get("SOAK_FLEET", "serve"),
                        help="serve: start `make serve`'s fleet (scripts/fleet.py); stand-in: "
                             "scripts.serve and a job worker on the database given")
    parser.add_argument("--fleet-dir", type=Path, default=Path(os.environ.get(
        "SOAK_FLEET_DIR", ROOT / "var" / "soak-fleet")).resolve())
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "soak.json")
    args = parser.parse_args()

    env = fleet_env(args.database_url, args.redis_url)
    two: Fleet
    if args.fleet == "serve":
        two = ServeFleet(args.port, 2, env, args.fleet_dir)
        two.start()
        # The 1-process fleet for Q1's peak: one more API process on the same PgBouncer and Redis.
        one: Fleet = StandInFleet(args.port + 10, 1, {**two.environment(),
                                                      "PORT": str(args.port + 10)},
                                  with_worker=False)
        described = ("make serve (scripts/fleet.py): PgBouncer in transaction pooling mode, "
                     "Redis, 2 API processes (scripts.serve --workers 2), 1 job worker; the "
                     "1-process fleet of Q1's peak is one more API process on the same "
                     "PgBouncer and Redis")
    else:
        subprocess.run([sys.executable, "-m", "bench.load_data", "--url", args.database_url],
                       cwd=ROOT, env=env, check=True)
        asyncio.run(business_plan(args.database_url))
        one, two = (StandInFleet(args.port + 10, 1, env, with_worker=False),
                    StandInFleet(args.port, 2, env))
        two.start()
        described = ("stand-in: python -m scripts.serve --workers 2 + python -m jobs.worker, "
                     "PostgreSQL directly (no PgBouncer), Redis")
    fleets = {"1 API process": one, "2 API processes": two}
    try:
        one.start()
        token = asyncio.run(Driver(two.url).log_in(READER))
        peaks = q1_peaks(fleets, token, args.q1_rounds, args.q1_seconds, 32)
        one.stop()
        result = asyncio.run(drive(args, two))
    finally:
        for fleet in fleets.values():
            fleet.stop()
    output = {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()[0],
                    "note": os.environ.get("SOAK_MACHINE_NOTE", "the client, the fleet, "
                                           "PgBouncer and PostgreSQL share these cores")},
        "fleet": described,
        "q1_peak": {"wrk": "2 threads, 32 connections, alternating rounds", **peaks},
        "mix": MIX,
        "soak": result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n")
    print(table(output))
    print(f"soak: wrote {args.output}", file=sys.stderr)
    bad = result["errors"] or result["subscriptions"]["missing"] or \
        result["subscriptions"]["closed_by_server"] or result["abuse"].get("unexpected_count")
    if bad:
        raise SystemExit("soak: errors, missing events or unexpected answers to the abusive "
                         "batch (see the JSON)")


if __name__ == "__main__":
    main()
