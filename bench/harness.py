"""Time the bench's operations on up to five servers side by side, and report ratios to the floor.

`bench/run.sh` starts the servers and then runs this. The operations (bench/operations.py):
**Q1** (the mobile home screen), **LeadDetail** (a lead with its owner and 20 newest notes) and
**LeadSearch** (50 leads of a status, most recently updated first, with `totalCount`). The
servers, each one process on the same bench database:

- `floor`: hand-written asyncpg SQL (bench/floor.py), the 1.00 every ratio is taken against;
- `pgl5`, `pgl4`: PostGraphile 5 (Grafast, Node 22) and 4, read-only reference servers asking
  the same rows in their own schemas (bench/peers/); they do no authentication, permission
  checks, cost accounting or decryption (they return the ciphertext of encrypted columns);
- `api`: the API as it ships, signed in as a MEMBER of `org-1`, sent the document text;
- `trusted`: a second API process given the manifest of the three documents
  (TRUSTED_DOCUMENTS_FILE) and sent `{"documentId": "sha256:<hex>", "variables": ...}`.

Before anything is timed each server is asked each operation once: the API's answer must equal
the floor's (parsed JSON) and be complete, or the run stops; PostGraphile's must have the floor's
names and row counts (`bench.operations.Operation.digest`). The trusted server's answer too must
equal the floor's, but when it does not (an API without trusted documents answers a body with no
`query` with an error) that server is reported `unsupported`, with the reason, and skipped.

Then wrk (`bench/q1.lua`, which sends a prepared body file: one per operation and server) warms
each server up on each operation and runs alternating rounds: every round the servers' order is
rotated, so drift on a noisy machine hits them alike. Figures per operation and server: requests/s
over all rounds (requests / seconds), its ratio to the floor's, p50 as the median of the rounds'
p50s, p99 as the worst round's p99 (the goals are ceilings, so the worst round counts), and the
server process's CPU time per request (from /proc, when its pid is given). Tables go to stdout
and the figures, with the commit and date, to `bench/results/q1.json` (its `operations` map:
operation -> server -> figures). The goals of issue 24 are evaluated when their servers ran: the
trusted Q1 at >= 0.6 of the floor, ahead of PostGraphile 5, p99 < 80 ms; the API (ad hoc) at
least at PostGraphile 4's ratio on every operation.

`--memory` (`make bench-memory`) instead measures the API's memory: 1,000 Q1 requests, its RSS
(VmRSS of /proc/PID/status), 100,000 more in chunks of 10,000 (RSS after each), and the goal:
RSS after 100,000 within 10% of RSS after 1,000 (`bench/results/q1-memory.json`). wrk has no
request count, so each chunk is wrk runs of a few seconds sized by the last run's rate until they
add up: a chunk may go a few hundred requests over, and the file records the exact counts.

    python -m bench.harness --api http://127.0.0.1:18081 --floor http://127.0.0.1:18082 \\
        [--pgl4 URL] [--pgl5 URL] [--trusted URL] [--operations Q1,LeadSearch]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

from bench import profile
from bench.load_data import BENCH_PASSWORD
from bench.operations import OPERATIONS, PEER_SERVERS, SERVERS, Operation

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
QUERY = OPERATIONS["Q1"].document
VARIABLES = OPERATIONS["Q1"].variables
# A MEMBER of org-1 (see bench/load_data.py): the operations as the mobile app's ordinary user
# sees them.
MEMBER_EMAIL = "user4@example.com"
LABELS = {"floor": "floor", "pgl5": "PostGraphile 5", "pgl4": "PostGraphile 4", "api": "API",
          "trusted": "API trusted"}
GOAL_TRUSTED_RATIO, GOAL_TRUSTED_P99_MS = 0.6, 80.0
GOAL_MEMORY_GROWTH = 0.10
LOG_IN = """mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken }
}"""


def fail(message: str) -> NoReturn:
    print(f"bench: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


def post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # a GraphQL error with a 4xx status, or not JSON
        text = error.read()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "errors" in answer:
            return answer
        return {"errors": [{"message": f"HTTP {error.code}: {text[:300]!r}"}]}


def try_log_in(api: str) -> tuple[str | None, dict[str, Any]]:
    answer = post(api, {"query": LOG_IN, "variables": {
        "input": {"email": MEMBER_EMAIL, "password": BENCH_PASSWORD}}})
    return ((answer.get("data") or {}).get("logIn") or {}).get("accessToken"), answer


def log_in(api: str) -> str:
    token, answer = try_log_in(api)
    if not token:
        fail(f"could not log in to the API as {MEMBER_EMAIL}: {json.dumps(answer)[:500]}")
    return token


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """Where two parsed JSON values first differ, for a readable failure."""
    if type(a) is not type(b):
        return f"{path}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}"


def check_answers(api: str, floor: str, token: str) -> None:
    """Both servers must give the same, complete answer to Q1 before anything is timed."""
    body = {"query": QUERY, "variables": VARIABLES}
    api_answer, floor_answer = post(api, body, token), post(floor, body)
    check_answer(api_answer, floor_answer)


def check_answer(api_answer: dict[str, Any], floor_answer: dict[str, Any]) -> None:
    """The API's answer to Q1 equals the floor's and is complete, or the run stops."""
    problem = compare(OPERATIONS["Q1"], "api", api_answer, floor_answer)
    if problem:
        fail(problem)
    print(f"bench: the API and the floor give the same answer to Q1 "
          f"({len(json.dumps(api_answer)):,} bytes of JSON)", file=sys.stderr)


def compare(op: Operation, server: str, answer: dict[str, Any],
            floor_answer: dict[str, Any]) -> str | None:
    """What is wrong with `server`'s answer to `op`, or None. The API's (and the trusted API's)
    must equal the floor's once parsed; PostGraphile's, which has other shapes and the ciphertext
    of encrypted columns, must have the floor's names and row counts (`Operation.digest`)."""
    label = LABELS[server]
    if "errors" in floor_answer:
        return f"the floor answered {op.name} with errors: {json.dumps(floor_answer)[:500]}"
    if "errors" in answer:
        return f"the {label} answered {op.name} with errors: {json.dumps(answer['errors'])[:500]}"
    floor_digest = op.digest(floor_answer)
    incomplete = op.expected(floor_digest)
    if incomplete:
        return (f"the floor's answer to {op.name} is incomplete ({incomplete}): is the data set "
                "loaded?")
    if server in PEER_SERVERS:
        digest = op.peer_digest(answer)
        difference = first_difference(digest, floor_digest)
        return None if difference is None else (
            f"the {label}'s and the floor's answers to {op.name} differ in names or row counts "
            f"({label} != floor) at {difference}")
    # `extensions` carries the API's cost report (`extensions.cost`), which the floor has not.
    difference = first_difference({"data": answer.get("data")},
                                  {"data": floor_answer.get("data")})
    return None if difference is None else (
        f"the {label}'s and the floor's answers to {op.name} differ ({label} != floor) "
        f"at {difference}")


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, *, token: str | None, body_file: str, seconds: int, connections: int,
        threads: int, pid: int | None) -> dict[str, Any]:
    """One wrk run; its figures as the Lua script's `done` printed them."""
    env = dict(os.environ, BENCH_BODY_FILE=body_file, BENCH_TOKEN=token or "")
    started_cpu = cpu_seconds(pid)
    run = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(BENCH / "q1.lua"), f"{url}/graphql"],
        env=env, capture_output=True, text=True, check=False)
    ended_cpu = cpu_seconds(pid)
    lines = [line for line in run.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if run.returncode != 0 or not lines:
        fail(f"wrk failed on {url} (exit {run.returncode}): {run.stderr or run.stdout}")
    figures = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    if started_cpu is not None and ended_cpu is not None and figures["requests"]:
        figures["cpu_ms_per_request"] = (ended_cpu - started_cpu) * 1000 / figures["requests"]
    return figures


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    requests = sum(r["requests"] for r in rounds)
    seconds = sum(r["duration_us"] for r in rounds) / 1e6
    cpu = [r["cpu_ms_per_request"] for r in rounds if "cpu_ms_per_request" in r]
    return {
        "requests_per_s": round(requests / seconds, 1),
        "p50_ms": round(statistics.median(r["latency_us"]["p50"] for r in rounds) / 1000, 2),
        "p99_ms": round(max(r["latency_us"]["p99"] for r in rounds) / 1000, 2),
        "cpu_ms_per_request": round(statistics.mean(cpu), 2) if cpu else None,
        "requests": requests,
        "bad_answers": sum(r["bad_answers"] for r in rounds),
        "socket_errors": sum(sum(r["socket_errors"].values()) for r in rounds),
        "rounds": [{
            "requests_per_s": round(r["requests"] / (r["duration_us"] / 1e6), 1),
            "p50_ms": round(r["latency_us"]["p50"] / 1000, 2),
            "p99_ms": round(r["latency_us"]["p99"] / 1000, 2),
            "max_ms": round(r["latency_us"]["max"] / 1000, 2),
            "cpu_ms_per_request": (round(r["cpu_ms_per_request"], 2)
                                   if "cpu_ms_per_request" in r else None),
        } for r in rounds],
    }


def git(*args: str) -> str:
    run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return run.stdout.strip()


def profile_api(args: argparse.Namespace, token: str, op: Operation) -> None:
    """Warm the API up, then load it with wrk on `op` while py-spy samples it."""
    if args.api_pid is None:
        fail("--profile needs --api-pid")
    output = BENCH / "results" / f"{op.name.lower()}-profile.txt"
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix=f"{op.name}-") as body_file:
        json.dump(op.body("api"), body_file)
        body_file.flush()
        settings = {"token": token, "body_file": body_file.name, "connections": args.connections,
                    "threads": args.threads, "pid": args.api_pid}
        print(f"bench: warming up the API for {args.warmup_seconds} s", file=sys.stderr)
        wrk(args.api, seconds=args.warmup_seconds, **settings)
        print(f"bench: profiling the API on {op.name} for {args.profile} s", file=sys.stderr)
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(wrk, args.api, seconds=args.profile + 2, **settings)
            stacks = profile.record(args.api_pid, args.profile, output)
            figures = load.result()
    rate = figures["requests"] / (figures["duration_us"] / 1e6)
    print(f"bench: under py-spy the API served {rate:.1f} req/s "
          f"({figures.get('cpu_ms_per_request', 0):.1f} ms CPU per request)")
    print(profile.summary(stacks))
    print(f"bench: collapsed stacks in {output}", file=sys.stderr)


class Server:
    """One server under test: where it listens, its pid and token, and whether it is timed."""

    def __init__(self, name: str, url: str, pid: int | None, token: str | None = None) -> None:
        self.name, self.url, self.pid, self.token = name, url, pid, token
        self.unsupported: str | None = None

    @property
    def label(self) -> str:
        return LABELS[self.name]


def check_servers(servers: list[Server], ops: list[Operation]) -> None:
    """Ask every server every operation once; stop on a wrong answer, except the trusted server's,
    which marks that server unsupported."""
    floor = next(s for s in servers if s.name == "floor")
    for op in ops:
        floor_answer = post(floor.url, op.body("floor"))
        for server in servers:
            if server.name == "floor" or server.unsupported:
                continue
            answer = post(server.url, op.body(server.name), server.token)
            problem = compare(op, server.name, answer, floor_answer)
            if problem and server.name == "trusted":
                server.unsupported = problem
                print(f"bench: the {server.label} is UNSUPPORTED (skipped): {problem}",
                      file=sys.stderr)
            elif problem:
                fail(problem)
        print(f"bench: {op.name}: the answers agree ({len(json.dumps(floor_answer)):,} bytes "
              "of JSON from the floor)", file=sys.stderr)


def rotated(items: list[Server], i: int) -> list[Server]:
    """Round i's order: rotated by i, so every server takes every place in turn."""
    k = i % len(items)
    return items[k:] + items[:k]


def ratios(op: str, figures: dict[str, dict[str, Any]]) -> None:
    floor = figures["floor"]["requests_per_s"]
    for summary in figures.values():
        if "requests_per_s" in summary:
            summary["ratio"] = round(summary["requests_per_s"] / floor, 4) if floor else None


def table(op: Operation, figures: dict[str, dict[str, Any]], load: dict[str, Any]) -> str:
    lines = [
        f"{op.name} {json.dumps(op.variables)}: wrk {load['connections']} connections, "
        f"{load['threads']} threads, {load['rounds']} rounds x {load['round_s'][op.name]} s "
        f"each after a {load['warmup_s']} s warm-up",
        f"{'':<16}{'req/s':>10}{'ratio':>8}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms/req':>12}",
    ]
    for name in SERVERS:
        s = figures.get(name)
        if s is None:
            continue
        if "requests_per_s" not in s:
            lines.append(f"{LABELS[name]:<16}{s['status']}")
            continue
        cpu = f"{s['cpu_ms_per_request']:>12.2f}" if s["cpu_ms_per_request"] is not None \
            else f"{'-':>12}"
        lines.append(f"{LABELS[name]:<16}{s['requests_per_s']:>10.1f}{s['ratio']:>8.3f}"
                     f"{s['p50_ms']:>10.2f}{s['p99_ms']:>10.2f}{cpu}")
    return "\n".join(lines)


def goals(operations: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Issue 24's goals, where the servers they compare ran (None: not measured)."""
    def ratio(op: str, server: str) -> float | None:
        return (operations.get(op) or {}).get(server, {}).get("ratio")

    trusted, pgl5 = ratio("Q1", "trusted"), ratio("Q1", "pgl5")
    trusted_p99 = (operations.get("Q1") or {}).get("trusted", {}).get("p99_ms")
    result: dict[str, Any] = {
        "trusted_q1": {
            "ratio_at_least": GOAL_TRUSTED_RATIO, "ahead_of": "pgl5",
            "p99_ms_under": GOAL_TRUSTED_P99_MS,
            "met": None if trusted is None or pgl5 is None or trusted_p99 is None else
            trusted >= GOAL_TRUSTED_RATIO and trusted > pgl5 and trusted_p99 < GOAL_TRUSTED_P99_MS,
        },
        "ad_hoc_at_least_pgl4": {},
    }
    for op in operations:
        api, pgl4 = ratio(op, "api"), ratio(op, "pgl4")
        result["ad_hoc_at_least_pgl4"][op] = None if api is None or pgl4 is None else api >= pgl4
    return result


def run_rounds(args: argparse.Namespace, servers: list[Server], ops: list[Operation],
               load: dict[str, Any]) -> dict[str, dict[str, Any]]:
    timed = [s for s in servers if not s.unsupported]
    rounds: dict[tuple[str, str], list[dict[str, Any]]] = {
        (op.name, s.name): [] for op in ops for s in timed}
    with tempfile.TemporaryDirectory(prefix="relleks-bench-") as bodies:
        def run(op: Operation, server: Server, seconds: int) -> dict[str, Any]:
            body_file = Path(bodies) / f"{op.name}-{server.name}.json"
            if not body_file.exists():
                body_file.write_text(json.dumps(op.body(server.name)))
            return wrk(server.url, token=server.token, body_file=str(body_file),
                       seconds=seconds, connections=args.connections, threads=args.threads,
                       pid=server.pid)

        for op in ops:
            for server in timed:
                print(f"bench: warming up the {server.label} on {op.name} for "
                      f"{args.warmup_seconds} s", file=sys.stderr)
                run(op, server, args.warmup_seconds)
        for i in range(args.rounds):
            for op in ops:
                for server in rotated(timed, i):
                    figures = run(op, server, load["round_s"][op.name])
                    rounds[op.name, server.name].append(figures)
                    rate = figures["requests"] / (figures["duration_us"] / 1e6)
                    print(f"bench: round {i + 1}/{args.rounds} {op.name:<10} {server.label:<15} "
                          f"{rate:8.1f} req/s  p99 {figures['latency_us']['p99'] / 1000:7.1f} ms",
                          file=sys.stderr)
    operations: dict[str, dict[str, Any]] = {}
    for op in ops:
        by_server: dict[str, dict[str, Any]] = {}
        for server in servers:
            if server.unsupported:
                by_server[server.name] = {"status": "unsupported", "reason": server.unsupported}
                continue
            summary = summarise(rounds[op.name, server.name])
            if summary["bad_answers"] or summary["socket_errors"]:
                fail(f"the {server.label} gave {summary['bad_answers']} answers to {op.name} "
                     f"with an error status or GraphQL errors and {summary['socket_errors']} "
                     "socket errors under load")
            by_server[server.name] = {"status": "timed", **summary}
        ratios(op.name, by_server)
        operations[op.name] = by_server
    return operations


def vm_rss_kib(pid: int) -> int:
    """The process's resident set size now (VmRSS of /proc/PID/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    fail(f"no VmRSS in /proc/{pid}/status")


def measure_memory(args: argparse.Namespace, api: Server) -> None:
    """Issue 24's memory goal: the API's RSS after 100,000 Q1 requests within 10% of its RSS
    after the first 1,000."""
    pid = api.pid
    if pid is None:
        fail("--memory needs --api-pid")
    op = OPERATIONS["Q1"]
    samples: list[dict[str, Any]] = []
    sent = 0
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="q1-") as body_file:
        json.dump(op.body("api"), body_file)
        body_file.flush()

        rate = 100.0  # req/s, a first guess; then the last run's

        def send(requests: int) -> None:
            """At least `requests` more (wrk has no request count: runs of a few seconds, sized
            by the last run's rate, until they add up; the last one may go over)."""
            nonlocal sent, rate
            done = 0
            while done < requests:
                seconds = min(30, max(1, math.ceil((requests - done) / rate)))
                figures = wrk(api.url, token=api.token, body_file=body_file.name,
                              seconds=seconds, connections=args.connections,
                              threads=args.threads, pid=pid)
                if figures["bad_answers"] or sum(figures["socket_errors"].values()):
                    fail(f"the API gave {figures['bad_answers']} bad answers and socket errors "
                         f"{figures['socket_errors']} while its memory was measured")
                done += figures["requests"]
                rate = max(1.0, figures["requests"] / (figures["duration_us"] / 1e6))
            sent += done
            samples.append({"requests": sent, "rss_kib": vm_rss_kib(pid),
                            "req_per_s": round(rate, 1)})
            print(f"bench: after {sent:,} Q1 requests the API's RSS is "
                  f"{samples[-1]['rss_kib'] / 1024:.1f} MiB", file=sys.stderr)

        started = time.monotonic()
        send(args.memory_warm_requests)
        baseline = samples[-1]
        chunk = max(1, args.memory_requests // 10)
        while sent - baseline["requests"] < args.memory_requests:
            send(min(chunk, args.memory_requests - (sent - baseline["requests"])))
    final = samples[-1]
    growth = final["rss_kib"] / baseline["rss_kib"] - 1
    met = abs(growth) <= GOAL_MEMORY_GROWTH
    print(f"Q1 memory: RSS {baseline['rss_kib'] / 1024:.1f} MiB after {baseline['requests']:,} "
          f"requests, {final['rss_kib'] / 1024:.1f} MiB after {final['requests']:,} "
          f"({growth:+.1%}; {'meets' if met else 'misses'} the goal: within "
          f"{GOAL_MEMORY_GROWTH:.0%})")
    result = {
        "query": "Q1", "variables": op.variables, **provenance(),
        "load": {"connections": args.connections, "threads": args.threads,
                 "warm_requests": args.memory_warm_requests, "requests": args.memory_requests,
                 "seconds": round(time.monotonic() - started, 1)},
        "baseline": baseline, "final": final, "samples": samples,
        "growth": round(growth, 4),
        "goal": {"growth_at_most": GOAL_MEMORY_GROWTH, "met": met},
    }
    output = args.output or BENCH / "results" / "q1-memory.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bench: wrote {output}", file=sys.stderr)


def provenance() -> dict[str, Any]:
    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_average": os.getloadavg()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="base URL of the API")
    parser.add_argument("--floor", required=True, help="base URL of the floor")
    parser.add_argument("--pgl4", help="base URL of PostGraphile 4")
    parser.add_argument("--pgl5", help="base URL of PostGraphile 5")
    parser.add_argument("--trusted", help="base URL of the API with trusted documents")
    for name in SERVERS:
        parser.add_argument(f"--{name}-pid", type=int, help=f"the {LABELS[name]}'s pid, for its "
                            "CPU time")
    parser.add_argument("--operations", default=os.environ.get("BENCH_OPERATIONS")
                        or ",".join(OPERATIONS), help="which, comma-separated (all)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "3")))
    parser.add_argument("--round-seconds", type=int,
                        default=int(os.environ.get("BENCH_ROUND_SECONDS", "10")),
                        help="a Q1 round's length")
    parser.add_argument("--other-round-seconds", type=int,
                        default=int(os.environ.get("BENCH_OTHER_ROUND_SECONDS", "0")),
                        help="a LeadDetail or LeadSearch round's length (default: half Q1's)")
    parser.add_argument("--warmup-seconds", type=int,
                        default=int(os.environ.get("BENCH_WARMUP_SECONDS", "5")))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--profile", type=int, metavar="SECONDS",
                        help="instead of timing, sample the API with py-spy under wrk's load "
                             "for SECONDS, on the first of --operations (see bench/profile.py)")
    parser.add_argument("--memory", action="store_true",
                        help="instead of timing, measure the API's RSS after --memory-warm-"
                             "requests and after --memory-requests more Q1 requests")
    parser.add_argument("--memory-warm-requests", type=int, default=1000)
    parser.add_argument("--memory-requests", type=int,
                        default=int(os.environ.get("BENCH_MEMORY_REQUESTS", "100000")))
    args = parser.parse_args()

    other_seconds = args.other_round_seconds or max(1, args.round_seconds // 2)
    if args.rounds < 1 or args.round_seconds < 1 or args.warmup_seconds < 1:
        parser.error("rounds, round and warm-up seconds must be at least 1")
    unknown = set(args.operations.split(",")) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}: choose among {list(OPERATIONS)}")
    ops = [OPERATIONS[name] for name in OPERATIONS if name in args.operations.split(",")]

    api = Server("api", args.api, args.api_pid, log_in(args.api))
    floor = Server("floor", args.floor, args.floor_pid)
    if args.profile:
        check_answers(api.url, floor.url, api.token or "")
        profile_api(args, api.token or "", ops[0])
        return
    if args.memory:
        check_servers([floor, api], [OPERATIONS["Q1"]])
        measure_memory(args, api)
        return

    servers = [floor]
    for name in ("pgl5", "pgl4"):
        url = getattr(args, name)
        if url:
            servers.append(Server(name, url, getattr(args, f"{name}_pid")))
    servers.append(api)
    if args.trusted:
        trusted = Server("trusted", args.trusted, args.trusted_pid)
        trusted.token, answer = try_log_in(args.trusted)
        if not trusted.token:
            trusted.unsupported = f"could not log in: {json.dumps(answer)[:300]}"
        servers.append(trusted)
    check_servers(servers, ops)

    load = {"connections": args.connections, "threads": args.threads, "rounds": args.rounds,
            "round_s": {op.name: args.round_seconds if op.name == "Q1" else other_seconds
                        for op in ops},
            "warmup_s": args.warmup_seconds}
    operations = run_rounds(args, servers, ops, load)
    for op in ops:
        print(table(op, operations[op.name], load))
        print()
    summary = goals(operations)
    print("ratio to the floor  " + "".join(f"{op.name:>12}" for op in ops))
    for server in servers:
        cells = []
        for op in ops:
            r = operations[op.name][server.name].get("ratio")
            cells.append(f"{r:>12.3f}" if r is not None else f"{'unsupported':>12}")
        print(f"{server.label:<19}" + "".join(cells))
    print(f"goals: {json.dumps(summary)}")

    result = {
        **provenance(),
        "load": load,
        "servers": {s.name: {"label": s.label, "status": "unsupported" if s.unsupported
                             else "timed", **({"reason": s.unsupported} if s.unsupported else {})}
                    for s in servers},
        "variables": {op.name: {"ours": op.variables, "postgraphile": op.peer_variables}
                      for op in ops},
        "operations": operations,
        "goals": summary,
    }
    output = args.output or BENCH / "results" / "q1.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bench: wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
