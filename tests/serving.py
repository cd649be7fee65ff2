"""A server started the way `make run` and production start it (`python -m scripts.serve`), as a
subprocess of its own, for tests of what only a real server process shows: its connection
handling, its ports and links."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from core.settings import ROOT
from tests.smtp import free_port


@contextlib.contextmanager
def served(tmp: Path, *, migrated: bool = False, **env: str) -> Iterator[int]:
    """The port of a `scripts.serve` process on a fresh SQLite file under `tmp`, with `env` on
    top of a minimal environment (no PORT, no PUBLIC_URL); stopped on exit. Its stdout (the
    JSON logs) goes to `tmp/server.log`, its stderr to `tmp/server.err`. `migrated`: the
    database gets the committed migrations first, as `make run` gives it."""
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    environment = {**keep, "LOG_LEVEL": "WARNING", "DATABASE_URL": f"sqlite://{tmp / 'db.sqlite3'}",
                   "MEDIA_ROOT": str(tmp / "media"), **env}
    if migrated:
        subprocess.run([sys.executable, "-c", "import asyncio, database, core.settings; "
                        "asyncio.run(database.migrate_database("
                        "core.settings.Settings.from_env().database_url))"],
                       cwd=ROOT, env=environment, check=True, capture_output=True, timeout=120)
    log, err = tmp / "server.log", tmp / "server.err"

    def output() -> str:
        return f"{log.read_text()[-3000:]}\n{err.read_text()[-3000:]}"

    with log.open("wb") as out, err.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=environment, stdout=out, stderr=errors)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, output()
            assert time.monotonic() < deadline, output()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
