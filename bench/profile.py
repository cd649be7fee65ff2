"""Where the API's time goes on Q1: py-spy samples the API process while wrk loads it.

`bash bench/run.sh --profile 20` starts everything as for a timed run, checks the answers, then
runs wrk on the API alone for 20 s under `py-spy record` and writes the collapsed stacks (one line
per stack, `frame;frame;... count`: flamegraph.pl or speedscope read them) to
`bench/results/q1-profile.txt`, and prints the top functions by self and inclusive time and the
share of each layer (Strawberry, graphql-core, Tortoise, asyncpg, our code...). py-spy comes from
PyPI: `.venv/bin/pip install py-spy`.

    python -m bench.profile bench/results/q1-profile.txt   # summarise an earlier profile
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from collections import Counter
from collections.abc import Callable
from pathlib import Path

IDLE_WORKER = ("_worker", "concurrent/futures/thread.py")
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])
STDLIB = Path(sysconfig.get_paths()["stdlib"])
OURS = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py") if ".venv" not in p.parts}
OUR_NAMES = {Path(p).name for p in OURS}


def layer(path: str) -> str:
    """Which package a frame's file belongs to. py-spy shortens paths to their import path
    (`strawberry/types/field.py`), so the first component names the package."""
    head = path.split("/", 1)[0]
    if path.startswith("<"):
        return "generated code (<string>)"
    if (SITE / head).exists():
        return head.removesuffix(".py")
    if path in OURS or (("/" not in path) and path in OUR_NAMES):
        return "our code"
    if head == "asyncio":
        return "asyncio (+ uvloop, asyncpg protocol: C code under the loop)"
    if (STDLIB / head).exists():
        return "stdlib"
    return "our code" if Path(path).name in OUR_NAMES else head


# Phases of a request, by the frames on a stack; the first that matches wins.
PHASES: list[tuple[str, Callable[[list[tuple[str, str]]], bool]]] = [
    ("validation (graphql-core validate)",
     lambda frames: any(p.startswith("graphql/validation/") for _, p in frames)),
    ("parsing", lambda frames: any(p.startswith("graphql/language/") for _, p in frames)),
    ("SQL: Tortoise, pypika, asyncpg (building queries, rows to models)",
     lambda frames: any(p.startswith(("tortoise/", "pypika", "asyncpg/")) for _, p in frames)),
    ("authentication and access (auth/)",
     lambda frames: any(p.startswith("auth/") for _, p in frames)),
    ("DataLoader bookkeeping", lambda frames: frames[-1][1].startswith("aiodataloader")),
    ("HTTP: uvicorn, Starlette, middleware, the view",
     lambda frames: frames[-1][1].startswith(("uvicorn/", "starlette/", "web/", "strawberry/http",
                                              "httptools", "h11"))),
    ("event loop (uvloop, C code under it)",
     lambda frames: frames[-1] == ("Runner.run", "asyncio/runners.py")),
    ("asyncio tasks and futures", lambda frames: frames[-1][1].startswith("asyncio/")),
    ("GraphQL execution: graphql-core", lambda frames: frames[-1][1].startswith("graphql/")),
    ("GraphQL execution: Strawberry's wrappers (fields, extensions, arguments)",
     lambda frames: frames[-1][1].startswith("strawberry/")),
    ("our schema, resolvers and loaders",
     lambda frames: layer(frames[-1][1]) == "our code"),
]


def phase(frames: list[tuple[str, str]]) -> str:
    for name, matches in PHASES:
        if matches(frames):
            return name
    return "other (stdlib, generated code...)"


def parse(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """Collapsed stacks as lists of (function, file), root first, with their sample counts."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            frames.append((match["function"], match["file"]) if match else (frame, "?"))
        stacks.append((frames, int(count)))
    return stacks


def summary(text: str, top: int = 25) -> str:
    # An idle thread-pool worker waiting on its queue is sampled as if it ran: leave it out.
    stacks = [(frames, count) for frames, count in parse(text)
              if frames and frames[-1] != IDLE_WORKER]
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    for frames, count in stacks:
        if not frames:
            continue
        function, path = frames[-1]
        own[f"{function} ({path})"] += count
        layers[layer(path)] += count
        phases[phase(frames)] += count
        for name in {f"{f} ({p})" for f, p in frames}:
            inclusive[name] += count
    # The server's entry frames (uvicorn, click, the event loop) are on nearly every stack.
    inclusive = Counter({name: n for name, n in inclusive.items() if n < 0.9 * total})

    def rows(counter: Counter[str]) -> list[str]:
        return [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]

    return "\n".join([
        f"{total:,} samples of the API process",
        "Time by phase (first match on the stack):",
        *rows(phases),
        "Self time by package (of the innermost Python frame; C code shows under its caller):",
        *rows(layers),
        f"Top {top} functions by self time:",
        *rows(own),
        f"Top {top} functions by inclusive time (on the stack):",
        *rows(inclusive),
    ])


def record(pid: int, seconds: int, output: Path) -> str:
    """Sample `pid` for `seconds` with py-spy; the collapsed stacks, also written to `output`."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("bench: py-spy is not installed: .venv/bin/pip install py-spy")
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([py_spy, "record", "--pid", str(pid), "--duration", str(seconds),
                    "--rate", "250", "--format", "raw", "--output", str(output)],
                   check=True, capture_output=True)
    return output.read_text()


if __name__ == "__main__":
    print(summary(Path(sys.argv[1]).read_text()))
