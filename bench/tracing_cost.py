"""What tracing costs Q1: the API with tracing off and on, side by side, against the floor.

`make bench-tracing` (`BENCH_TRACING=1 bash bench/run.sh`) starts, beside the usual API and
floor, a second API process on the same database with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at
a local OTLP/HTTP receiver (`bench/otlp_receiver.py`, which decodes every export and discards
it), then runs this. Both APIs are checked to give the floor's answer; then wrk loads each of
the three in turn, alternating the order every round (off, on, floor; floor, on, off; ...) so
that drift on a shared machine hits them alike.

The goal (issue 22): Q1's API/floor ratio with tracing on within 10% of the ratio with it off,
i.e. `ratio_on / ratio_off >= 0.9`. Also reported: CPU time per request of each API process
(from /proc: the cost of tracing itself, less sensitive to the machine's other load than
requests per second), and the spans the receiver decoded per traced request (Q1 should give 10:
the request, the operation, parse, validate, execute and its 5 SQL statements), which shows
that nothing was dropped or sampled away. The sampler the traced process ran with
(`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`; unset: every trace) is recorded too.

    python -m bench.tracing_cost --api http://127.0.0.1:18081 --traced http://127.0.0.1:18083 \\
        --floor http://127.0.0.1:18082 --receiver http://127.0.0.1:18084
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.harness import (
    BENCH,
    QUERY,
    VARIABLES,
    check_answer,
    fail,
    git,
    log_in,
    post,
    summarise,
    wrk,
)

GOAL = 0.9
"""The traced API's ratio to the floor, over the untraced API's, must be at least this."""
FLUSH_WAIT_S = 7.0
"""Longer than the batch span processor's schedule delay (5 s), so the last spans arrive."""
NAMES = {"off": "API, tracing off", "on": "API, tracing on", "floor": "floor"}


def receiver_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return json.loads(response.read())


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def table(figures: dict[str, dict[str, Any]], ratios: dict[str, float], load: dict[str, Any]
          ) -> str:
    lines = [
        f"Q1 {json.dumps(VARIABLES)}: wrk {load['connections']} connections, {load['threads']} "
        f"threads, {load['rounds']} rounds x {load['round_s']} s each after a "
        f"{load['warmup_s']} s warm-up",
        f"{'':<20}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms/req':>12}",
    ]
    for key, s in figures.items():
        cpu = s["cpu_ms_per_request"]
        lines.append(f"{NAMES[key]:<20}{s['requests_per_s']:>10.1f}{s['p50_ms']:>10.2f}"
                     f"{s['p99_ms']:>10.2f}" + (f"{cpu:>12.2f}" if cpu is not None
                                                else f"{'-':>12}"))
    verdict = "meets" if ratios["on_over_off"] >= GOAL else "misses"
    lines.append(f"API/floor: off {ratios['off']:.3f}, on {ratios['on']:.3f}; on/off "
                 f"{ratios['on_over_off']:.3f} ({verdict} the goal: >= {GOAL})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="base URL of the API, tracing off")
    parser.add_argument("--traced", required=True, help="base URL of the API, tracing on")
    parser.add_argument("--floor", required=True, help="base URL of the floor")
    parser.add_argument("--receiver", required=True, help="base URL of the OTLP receiver")
    parser.add_argument("--api-pid", type=int)
    parser.add_argument("--traced-pid", type=int)
    parser.add_argument("--floor-pid", type=int)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "4")))
    parser.add_argument("--round-seconds", type=int,
                        default=int(os.environ.get("BENCH_ROUND_SECONDS", "10")))
    parser.add_argument("--warmup-seconds", type=int,
                        default=int(os.environ.get("BENCH_WARMUP_SECONDS", "5")))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "q1-tracing.json")
    args = parser.parse_args()
    if args.rounds < 1 or args.round_seconds < 1 or args.warmup_seconds < 1:
        parser.error("rounds, round and warm-up seconds must be at least 1")

    token = log_in(args.api)
    body = {"query": QUERY, "variables": VARIABLES}
    floor_answer = post(args.floor, body)
    check_answer(post(args.api, body, token), floor_answer)
    check_answer(post(args.traced, body, token), floor_answer)
    traced_requests = 1
    print("bench: both APIs give the floor's answer to Q1", file=sys.stderr)

    load = {"connections": args.connections, "threads": args.threads, "rounds": args.rounds,
            "round_s": args.round_seconds, "warmup_s": args.warmup_seconds}
    servers = {"off": (args.api, token, args.api_pid), "on": (args.traced, token, args.traced_pid),
               "floor": (args.floor, None, args.floor_pid)}
    rounds: dict[str, list[dict[str, Any]]] = {key: [] for key in servers}
    load_start = load_average()
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="q1-") as body_file:
        json.dump(body, body_file)
        body_file.flush()

        def run(key: str, seconds: int) -> dict[str, Any]:
            url, server_token, pid = servers[key]
            return wrk(url, token=server_token, body_file=body_file.name, seconds=seconds,
                       connections=args.connections, threads=args.threads, pid=pid)

        for key in servers:
            print(f"bench: warming up the {NAMES[key]} for {args.warmup_seconds} s",
                  file=sys.stderr)
            figures = run(key, args.warmup_seconds)
            if key == "on":
                traced_requests += figures["requests"]
        for i in range(args.rounds):
            order = ("off", "on", "floor") if i % 2 == 0 else ("floor", "on", "off")
            for key in order:
                figures = run(key, args.round_seconds)
                rounds[key].append(figures)
                if key == "on":
                    traced_requests += figures["requests"]
                rate = figures["requests"] / (figures["duration_us"] / 1e6)
                print(f"bench: round {i + 1}/{args.rounds} {NAMES[key]:<17} {rate:8.1f} req/s "
                      f" CPU {figures.get('cpu_ms_per_request', 0):5.2f} ms/req", file=sys.stderr)
    load_end = load_average()
    time.sleep(FLUSH_WAIT_S)
    received = receiver_stats(args.receiver)

    summaries = {key: summarise(rounds[key]) for key in servers}
    for key, s in summaries.items():
        if s["bad_answers"] or s["socket_errors"]:
            fail(f"the {NAMES[key]} gave {s['bad_answers']} bad answers and "
                 f"{s['socket_errors']} socket errors under load")
    floor_rate = summaries["floor"]["requests_per_s"]
    ratios = {"off": summaries["off"]["requests_per_s"] / floor_rate,
              "on": summaries["on"]["requests_per_s"] / floor_rate}
    ratios["on_over_off"] = ratios["on"] / ratios["off"]
    per_round = [on["requests"] / on["duration_us"] / (off["requests"] / off["duration_us"])
                 for on, off in zip(rounds["on"], rounds["off"], strict=True)]
    cpu_off, cpu_on = (summaries[key]["cpu_ms_per_request"] for key in ("off", "on"))
    print(table(summaries, ratios, load))
    spans_per_request = received["spans"] / traced_requests if traced_requests else 0.0
    print(f"bench: the receiver decoded {received['spans']:,} spans in {received['requests']:,} "
          f"exports: {spans_per_request:.2f} per traced request", file=sys.stderr)

    result = {
        "query": "Q1",
        "variables": VARIABLES,
        "what": "Q1 on the API with tracing off and on (same code, same database, two processes "
                "taking turns with the floor, the order alternating every round); the traced "
                "process exports over OTLP/HTTP (protobuf) to bench/otlp_receiver.py on "
                "loopback, which decodes and discards the spans. The machine was shared (other "
                "sessions' tests and servers on its 2 cores): compare the ratios and CPU per "
                "request, not absolute figures.",
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "shared": True,
                    "load_average_start_end": [load_start, load_end]},
        "sampler": {"OTEL_TRACES_SAMPLER": os.environ.get("OTEL_TRACES_SAMPLER"),
                    "OTEL_TRACES_SAMPLER_ARG": os.environ.get("OTEL_TRACES_SAMPLER_ARG")},
        "load": load,
        "api_tracing_off": summaries["off"],
        "api_tracing_on": summaries["on"],
        "floor": summaries["floor"],
        "ratio_off": round(ratios["off"], 4),
        "ratio_on": round(ratios["on"], 4),
        "on_over_off": round(ratios["on_over_off"], 4),
        "on_over_off_per_round": [round(r, 4) for r in per_round],
        "cpu_ms_per_request_added": (round(cpu_on - cpu_off, 2)
                                     if cpu_on is not None and cpu_off is not None else None),
        "receiver": {"exports": received["requests"], "spans": received["spans"],
                     "traced_requests": traced_requests,
                     "spans_per_request": round(spans_per_request, 2),
                     "names": dict(list(received["names"].items())[:20])},
        "goal": {"on_over_off": GOAL, "met": ratios["on_over_off"] >= GOAL},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bench: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
