"""Time Q1 on the API and on the floor, side by side under the same load, and report the ratio.

`bench/run.sh` starts both servers and then runs this. It logs in to the API as a MEMBER of
`org-1`, asks both servers Q1 once and stops unless the two answers are equal (parsed JSON) and
complete (20 members, 50 leads), then runs wrk (`bench/q1.lua`): a warm-up of each, then
alternating rounds (API, floor; floor, API; ...) so drift on a noisy machine hits both alike.

Figures per server: requests/s over all rounds (requests / seconds), p50 as the median of the
rounds' p50s, p99 as the worst round's p99 (the goal is a ceiling, so the worst round counts), and
the server process's CPU time per request (from /proc, when its pid is given). The table goes to
stdout and the figures, with the commit and date, to `bench/results/q1.json`.

With `--traced URL` (`make bench-tracing`) a second API process, the same code on the same data
with tracing on (its spans exported to a local OTLP receiver, `bench/otlp_receiver.py`), joins
the rounds: API with tracing off, API with tracing on and the floor take turns, and the figures
go to `bench/results/q1-tracing.json` with both ratios, their quotient, and the spans the
receiver decoded per traced request.

    python -m bench.harness --api http://127.0.0.1:18081 --floor http://127.0.0.1:18082
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

from bench import profile
from bench.load_data import BENCH_PASSWORD

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
QUERY = (BENCH / "q1.graphql").read_text()
VARIABLES = {"slug": "org-1"}
# A MEMBER of org-1 (see bench/load_data.py): Q1 as the mobile app's ordinary user sees it.
MEMBER_EMAIL = "user4@example.com"
GOAL_RATIO, GOAL_P99_MS = 0.12, 250.0
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
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def log_in(api: str) -> str:
    answer = post(api, {"query": LOG_IN, "variables": {
        "input": {"email": MEMBER_EMAIL, "password": BENCH_PASSWORD}}})
    token = ((answer.get("data") or {}).get("logIn") or {}).get("accessToken")
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
    """Both servers must give the same, complete answer before anything is timed."""
    body = {"query": QUERY, "variables": VARIABLES}
    api_answer, floor_answer = post(api, body, token), post(floor, body)
    check_answer(api_answer, floor_answer)


def check_answer(api_answer: dict[str, Any], floor_answer: dict[str, Any]) -> None:
    if "errors" in api_answer:
        fail(f"the API answered Q1 with errors: {json.dumps(api_answer['errors'])[:1000]}")
    # `extensions` carries the API's cost report (`extensions.cost`), which the floor has not.
    difference = first_difference({"data": api_answer.get("data")},
                                  {"data": floor_answer.get("data")})
    if difference:
        fail(f"the API's and the floor's answers to Q1 differ (API != floor) at {difference}")
    org = (api_answer.get("data") or {}).get("organization") or {}
    members = len((org.get("members") or {}).get("nodes") or [])
    leads = (org.get("leads") or {}).get("nodes") or []
    notes = sum(len(lead["notes"]["nodes"]) for lead in leads)
    if (members, len(leads), notes) != (20, 50, 150):
        fail(f"Q1 answered {members} members, {len(leads)} leads, {notes} notes; expected "
             "20, 50, 150: is the data set loaded?")
    print(f"bench: the API and the floor give the same answer to Q1 "
          f"({len(json.dumps(api_answer)):,} bytes of JSON)", file=sys.stderr)


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


def table(api: dict[str, Any], floor: dict[str, Any], ratio: float, load: dict[str, Any]) -> str:
    def cpu(s: dict[str, Any]) -> str:
        return f"{s['cpu_ms_per_request']:>12.2f}" if s["cpu_ms_per_request"] is not None \
            else f"{'-':>12}"

    lines = [
        f"Q1 {json.dumps(VARIABLES)}: wrk {load['connections']} connections, {load['threads']} "
        f"threads, {load['rounds']} rounds x {load['round_s']} s each after a "
        f"{load['warmup_s']} s warm-up",
        f"{'':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms/req':>12}",
    ]
    for name, s in (("API", api), ("floor", floor)):
        lines.append(f"{name:<10}{s['requests_per_s']:>10.1f}{s['p50_ms']:>10.2f}"
                     f"{s['p99_ms']:>10.2f}{cpu(s)}")
    verdict = "meets" if ratio >= GOAL_RATIO and api["p99_ms"] < GOAL_P99_MS else "misses"
    lines.append(f"API/floor {ratio:>10.3f}   ({verdict} the goal: >= {GOAL_RATIO} of the floor's "
                 f"req/s with p99 < {GOAL_P99_MS:.0f} ms)")
    return "\n".join(lines)


def profile_api(args: argparse.Namespace, token: str) -> None:
    """Warm the API up, then load it with wrk while py-spy samples it."""
    if args.api_pid is None:
        fail("--profile needs --api-pid")
    output = BENCH / "results" / "q1-profile.txt"
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="q1-") as body_file:
        json.dump({"query": QUERY, "variables": VARIABLES}, body_file)
        body_file.flush()
        settings = {"token": token, "body_file": body_file.name, "connections": args.connections,
                    "threads": args.threads, "pid": args.api_pid}
        print(f"bench: warming up the API for {args.warmup_seconds} s", file=sys.stderr)
        wrk(args.api, seconds=args.warmup_seconds, **settings)
        print(f"bench: profiling the API for {args.profile} s", file=sys.stderr)
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(wrk, args.api, seconds=args.profile + 2, **settings)
            stacks = profile.record(args.api_pid, args.profile, output)
            figures = load.result()
    rate = figures["requests"] / (figures["duration_us"] / 1e6)
    print(f"bench: under py-spy the API served {rate:.1f} req/s "
          f"({figures.get('cpu_ms_per_request', 0):.1f} ms CPU per request)")
    print(profile.summary(stacks))
    print(f"bench: collapsed stacks in {output}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="base URL of the API")
    parser.add_argument("--floor", required=True, help="base URL of the floor")
    parser.add_argument("--api-pid", type=int, help="the API's pid, for its CPU time")
    parser.add_argument("--floor-pid", type=int, help="the floor's pid, for its CPU time")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "3")))
    parser.add_argument("--round-seconds", type=int,
                        default=int(os.environ.get("BENCH_ROUND_SECONDS", "10")))
    parser.add_argument("--warmup-seconds", type=int,
                        default=int(os.environ.get("BENCH_WARMUP_SECONDS", "5")))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "q1.json")
    parser.add_argument("--profile", type=int, metavar="SECONDS",
                        help="instead of timing, sample the API with py-spy under wrk's load "
                             "for SECONDS (see bench/profile.py)")
    args = parser.parse_args()

    if args.rounds < 1 or args.round_seconds < 1 or args.warmup_seconds < 1:
        parser.error("rounds, round and warm-up seconds must be at least 1")
    token = log_in(args.api)
    check_answers(args.api, args.floor, token)
    if args.profile:
        profile_api(args, token)
        return
    load = {"connections": args.connections, "threads": args.threads, "rounds": args.rounds,
            "round_s": args.round_seconds, "warmup_s": args.warmup_seconds}
    servers = {"api": (args.api, token, args.api_pid), "floor": (args.floor, None, args.floor_pid)}
    rounds: dict[str, list[dict[str, Any]]] = {"api": [], "floor": []}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="q1-") as body_file:
        json.dump({"query": QUERY, "variables": VARIABLES}, body_file)
        body_file.flush()

        def run(name: str, seconds: int) -> dict[str, Any]:
            url, server_token, pid = servers[name]
            return wrk(url, token=server_token, body_file=body_file.name, seconds=seconds,
                       connections=args.connections, threads=args.threads, pid=pid)

        for name in ("api", "floor"):
            print(f"bench: warming up the {name} for {args.warmup_seconds} s", file=sys.stderr)
            run(name, args.warmup_seconds)
        for i in range(args.rounds):
            order = ("api", "floor") if i % 2 == 0 else ("floor", "api")
            for name in order:
                figures = run(name, args.round_seconds)
                rounds[name].append(figures)
                rate = figures["requests"] / (figures["duration_us"] / 1e6)
                print(f"bench: round {i + 1}/{args.rounds} {name:<5} {rate:8.1f} req/s  "
                      f"p99 {figures['latency_us']['p99'] / 1000:7.1f} ms", file=sys.stderr)

    api, floor = summarise(rounds["api"]), summarise(rounds["floor"])
    for name, s in (("API", api), ("floor", floor)):
        if s["bad_answers"] or s["socket_errors"]:
            fail(f"the {name} gave {s['bad_answers']} answers with an error status or GraphQL "
                 f"errors and {s['socket_errors']} socket errors under load")
    ratio = api["requests_per_s"] / floor["requests_per_s"]
    print(table(api, floor, ratio, load))

    result = {
        "query": "Q1",
        "variables": VARIABLES,
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "load": load,
        "api": api,
        "floor": floor,
        "ratio": round(ratio, 4),
        "goal": {"ratio": GOAL_RATIO, "p99_ms": GOAL_P99_MS,
                 "met": ratio >= GOAL_RATIO and api["p99_ms"] < GOAL_P99_MS},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bench: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
