"""Where Prometheus scrapes the metrics (`observability/metrics.py`): never in public.

Two ways, either or both:

- `/metrics` on the API's own port, only with `Authorization: Bearer $METRICS_TOKEN` (compared in
  constant time). Without `METRICS_TOKEN` the route answers 404, like any path that does not
  exist; with it, a missing or wrong token gets 401.
- A listener of its own (`METRICS_PORT`, on `METRICS_HOST`, 127.0.0.1 unless told otherwise),
  without a token: keep it off public interfaces (firewall or a private network). With several
  worker processes on one machine, the first to bind the port serves it and the others find it
  taken and carry on: in multiprocess mode any one of them renders every process's values.

Each scrape also reads the job queue's backlog (`Backlog`), the only figure measured at scrape
time: at most once per `interval` seconds (scrapes in between get the last figures) and for at
most `timeout` seconds, so scraping often or during a flood of jobs costs the database little.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from observability.metrics import render

log = structlog.get_logger("relleks.metrics")

BacklogReader = Callable[[], Awaitable[list[tuple[str, int, float]]]]


class Backlog:
    """The job queue's depth and oldest age per kind, read at scrape time, cached and bounded.

        backlog = Backlog(services.jobs.backlog, interval=15, timeout=2)
        families = await backlog.families()
    """

    def __init__(self, read: BacklogReader, *, interval: float = 15.0,
                 timeout: float = 2.0) -> None:
        self.read = read
        self.interval = interval
        self.timeout = timeout
        self._rows: list[tuple[str, int, float]] = []
        self._ok = 0.0
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def families(self) -> list[Metric]:
        async with self._lock:  # concurrent scrapes share one read
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self.interval:
                self._read_at = now
                try:
                    self._rows = await asyncio.wait_for(self.read(), self.timeout)
                    self._ok = 1.0
                except Exception:  # a slow or absent queue must not fail the scrape
                    log.warning("metrics.backlog_failed", exc_info=True)
                    self._ok = 0.0
        depth = GaugeMetricFamily("relleks_job_queue_depth",
                                  "Jobs due and waiting to run, by kind (task name).",
                                  labels=["kind"])
        oldest = GaugeMetricFamily("relleks_job_queue_oldest_seconds",
                                   "Age of the oldest job waiting to run, by kind.",
                                   labels=["kind"])
        for kind, count, age in self._rows:
            depth.add_metric([kind], count)
            oldest.add_metric([kind], age)
        ok = GaugeMetricFamily("relleks_job_queue_read_ok",
                               "1 when the last read of the job queue succeeded in time, else 0.",
                               value=self._ok)
        return [depth, oldest, ok]


async def scrape(backlog: Backlog) -> tuple[bytes, str]:
    return render(await backlog.families())


def metrics_endpoint(token: str | None, backlog: Backlog
                     ) -> Callable[[Request], Awaitable[Response]]:
    """The API port's `/metrics`: 404 without a configured token, 401 without the right one."""
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: Request) -> Response:
        if expected is None:
            return PlainTextResponse("Not Found", status_code=404)
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return PlainTextResponse("Unauthorized", status_code=401,
                                     headers={"www-authenticate": 'Bearer realm="metrics"'})
        body, content_type = await scrape(backlog)
        return Response(body, media_type=content_type, headers={"cache-control": "no-store"})

    return metrics


async def start_listener(host: str, port: int, backlog: Backlog) -> asyncio.Server | None:
    """Serve `GET /metrics` on `host:port` (HTTP/1.0, one request per connection), or None when
    another process on this machine already does."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method == b"GET" and path == b"/metrics":
                body, content_type = await scrape(backlog)
                status = b"200 OK"
            else:
                body, content_type, status = b"Not Found\n", "text/plain", b"404 Not Found"
            writer.write(b"HTTP/1.0 " + status + b"\r\ncontent-type: " + content_type.encode()
                         + b"\r\ncontent-length: " + str(len(body)).encode()
                         + b"\r\nconnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    try:
        return await asyncio.start_server(answer, host, port, limit=16_384)
    except OSError as exc:
        log.info("metrics.listener_taken", host=host, port=port, error=str(exc))
        return None


async def stop_listener(server: Any) -> None:
    if server is not None:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
