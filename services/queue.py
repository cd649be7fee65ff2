"""The procrastinate app of one process: its connector, its queue and its worker.

The tasks themselves are registered by the composition root (`jobs.tasks.register`, called
by `server.py` and `jobs/worker.py`): the queue does not know what its jobs do.

    jobs = Jobs(settings)          # built by `services.Services`
    await jobs.open()              # the server's lifespan, or `python -m jobs.worker`
    await jobs.defer(work_id)      # after the transaction that recorded the work commits
    await jobs.run_worker(wait=False)  # run what is queued now, then return (tests)

On PostgreSQL the jobs live in procrastinate's tables and any worker process takes them; on
SQLite they live in memory (`InMemoryConnector`) and the server runs the worker itself. Either
way the sweep (`jobs.sweep`) re-queues from `scheduled_work`, so a queue emptied by a restart
loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, Unpack, cast

import procrastinate
import structlog
from procrastinate import worker as procrastinate_worker
from procrastinate.app import WorkerOptions
from procrastinate.testing import InMemoryConnector

from core import tracing
from core.settings import Settings
from database.queue_tables import is_postgres, libpq_url

log = structlog.get_logger("relleks.jobs")

WORK_TASK = "relleks.run_work"
SWEEP_TASK = "relleks.sweep"
DOMAIN_CHECK_TASK = "relleks.check_custom_domain"
WEBHOOK_TASK = "relleks.deliver_webhook"
WEBHOOK_RELAY_TASK = "relleks.queue_webhook"
QUEUE = "relleks"
WEBHOOK_QUEUE = "webhooks"
"""Webhook deliveries have their own procrastinate queue, and their own worker loop with its
own slots (WEBHOOK_CONCURRENCY), so deliveries never hold up exports and deletions."""


def webhook_lane(endpoint_id: uuid.UUID, message_id: uuid.UUID, lanes: int) -> str:
    """The procrastinate `lock` of a message's deliveries: one of the endpoint's `lanes` lanes,
    chosen by a stable hash of the message id. Jobs sharing a lock run one at a time, in order,
    and a worker skips a locked job to take others: one endpoint holds at most `lanes` slots,
    however slow it is."""
    digest = hashlib.blake2b(message_id.bytes, digest_size=8).digest()
    return f"webhook:{endpoint_id}:{int.from_bytes(digest, 'big') % max(1, lanes)}"


class LaneWorker(procrastinate_worker.Worker):
    """Procrastinate's worker, which fetches again as soon as a job with a `lock` ends.

    Its fetch loop sleeps until a job is inserted or the polling interval passes whenever a
    fetch finds nothing; with lanes, "nothing" often means every waiting job's lock is taken, and
    a lane freed by a finished job would wait for the next poll (one endpoint's backlog went at
    4 deliveries/s: 4 lanes, one poll a second). Procrastinate 3.10 has no public hook for this:
    `_persist_job_status` and `_new_job_event` are its internals (pinned by
    `tests/webhooks/test_isolation.py`'s backlog test)."""

    async def _persist_job_status(self, job: procrastinate.jobs.Job, *args: Any,
                                  **kwargs: Any) -> None:
        await super()._persist_job_status(job, *args, **kwargs)
        if job.lock is not None:
            self._new_job_event.set()


class QueueApp(procrastinate.App):
    """A procrastinate app whose workers are `LaneWorker`s."""

    def _worker(self, **kwargs: Unpack[WorkerOptions]) -> procrastinate_worker.Worker:
        options: WorkerOptions = {**self.worker_defaults, **kwargs}
        return LaneWorker(app=self, **options)


STALLED_AFTER = 60.0
"""Seconds without a heartbeat after which a worker counts as dead (procrastinate's workers
beat every 10 s)."""


BACKLOG_SQL = """
SELECT j.task_name, count(*) AS depth,
       EXTRACT(EPOCH FROM now() - min(coalesce(j.scheduled_at, e.at))) AS oldest
FROM procrastinate_jobs j
LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
GROUP BY j.task_name ORDER BY j.task_name LIMIT %(kinds)s
"""
"""Due jobs per kind and the age of the oldest (procrastinate's tables: a job's queueing time is
its `deferred` event)."""
def _trace() -> dict[str, str]:
    """The job's `traceparent` argument: the span that queues it (a request's, a job's), which
    the job's own span links to (`jobs/tasks.py`). Nothing when tracing is off."""
    parent = tracing.traceparent()
    return {"traceparent": parent} if parent else {}


def _connect_options(settings: Settings) -> dict[str, Any]:
    """psycopg's connection options for the queue: through a transaction pooler (DATABASE_POOLER
    =transaction without JOBS_DATABASE_URL, where only deferring jobs is allowed) it never
    prepares statements (psycopg prepares a statement run 5 times, on a server connection the
    pooler may not give it again)."""
    return {"prepare_threshold": None} if settings.queue_through_pooler else {}


class Jobs:
    """One process's job machinery: the queue, its connector and the worker that runs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = not is_postgres(settings.database_url)
        connector: Any = InMemoryConnector() if self.embedded else \
            procrastinate.PsycopgConnector(conninfo=libpq_url(settings.queue_database_url),
                                           min_size=1, max_size=4,
                                           kwargs=_connect_options(settings))
        self.app = QueueApp(connector=connector)
        self._opened = False
        self._worker: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the connector (on first use: an app that never defers never connects)."""
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def close(self) -> None:
        await self.stop_worker()
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def defer(self, work_id: uuid.UUID, *, schedule_at: datetime | None = None) -> bool:
        """Queue the job for one row of `scheduled_work`. Called after the row's transaction
        committed; a failure here is logged and left to the sweep, never raised to the client."""
        try:
            await self.open()
            task = self.app.configure_task(WORK_TASK, schedule_at=schedule_at) \
                if schedule_at else self.app.configure_task(WORK_TASK)
            await task.defer_async(work_id=str(work_id), **_trace())
        except Exception:  # the promise is in the database already: the sweep will queue it
            log.warning("jobs.defer_failed", work_id=str(work_id), exc_info=True)
            return False
        return True

    async def defer_domain_check(self, domain_id: uuid.UUID) -> bool:
        """Queue one scheduled check of a custom domain (`jobs.custom_domains`). The row's
        `next_check_at` is the promise: a failure here is logged and the sweep queues it again.
        At most one check of a domain waits in the queue (its queueing lock)."""
        try:
            await self.open()
            task = self.app.configure_task(DOMAIN_CHECK_TASK,
                                           queueing_lock=f"domain-check:{domain_id}")
            await task.defer_async(domain_id=str(domain_id), **_trace())
        except procrastinate.exceptions.AlreadyEnqueued:
            return False
        except Exception:  # the row still says when it is due: the sweep will queue it
            log.warning("jobs.defer_failed", domain_id=str(domain_id), exc_info=True)
            return False
        return True

    async def defer_webhook(self, message_id: uuid.UUID, endpoint_id: uuid.UUID, *,
                            schedule_at: datetime | None = None) -> bool:
        """Queue one delivery attempt of a webhook message (`jobs.webhooks`) in its endpoint's
        lane (`webhook_lane`). The message's `next_attempt_at` is the promise: a failure here is
        logged and the sweep queues it.

        A later attempt (`schedule_at` in the future) is queued as a lock-free relay job
        (`relleks.queue_webhook`) that queues the locked delivery when it is due: procrastinate
        runs a lock's jobs in id order, so a locked job waiting for its time would hold up the
        lane's messages queued after it."""
        try:
            await self.open()
            if schedule_at is not None and schedule_at > datetime.now(UTC):
                relay = self.app.configure_task(WEBHOOK_RELAY_TASK, schedule_at=schedule_at)
                await relay.defer_async(message_id=str(message_id),
                                        endpoint_id=str(endpoint_id), **_trace())
                return True
            lock = webhook_lane(endpoint_id, message_id,
                                self.settings.webhook_lanes_per_endpoint)
            task = self.app.configure_task(WEBHOOK_TASK, lock=lock)
            await task.defer_async(message_id=str(message_id), **_trace())
        except Exception:  # the row says it is due: the sweep will queue it
            log.warning("jobs.defer_failed", message_id=str(message_id), exc_info=True)
            return False
        return True

    async def release_stalled_webhooks(self) -> list[int]:
        """Mark failed the delivery jobs a dead worker left running (no heartbeat for
        `STALLED_AFTER` seconds), so their lane's lock is free again; the message rows are the
        promise, and the sweep (`jobs.webhooks.queue_due`) queues them again."""
        await self.open()
        manager = self.app.job_manager
        stalled = list(await manager.get_stalled_jobs(queue=WEBHOOK_QUEUE,
                                                      seconds_since_heartbeat=STALLED_AFTER))
        for job in stalled:
            await manager.finish_job(job, status=procrastinate.jobs.Status.FAILED,
                                     delete_job=False)
        if stalled:
            log.warning("jobs.webhook_stalled_released", count=len(stalled))
        return [job.id for job in stalled if job.id is not None]
    async def backlog(self, *, kinds: int = 50) -> list[tuple[str, int, float]]:
        """Jobs due and waiting, per kind (task name): (kind, how many, age in seconds of the
        oldest since it was queued or became due), at most `kinds` kinds. For the metrics
        (`observability/queue.py`), which bound how often and how long this runs."""
        if self.embedded:
            connector = cast(InMemoryConnector, self.app.connector)
            now = datetime.now(UTC)
            found: dict[str, tuple[int, datetime]] = {}
            for job in list(connector.jobs.values()):
                if job["status"] != "todo" or (job["scheduled_at"] or now) > now:
                    continue
                queued = job["scheduled_at"] or next(
                    (event["at"] for event in connector.events.get(job["id"], ())
                     if event["type"] == "deferred"), now)
                count, oldest = found.get(job["task_name"], (0, queued))
                found[job["task_name"]] = (count + 1, min(oldest, queued))
            return [(kind, count, (now - oldest).total_seconds())
                    for kind, (count, oldest) in sorted(found.items())[:kinds]]
        await self.open()
        rows = await self.app.connector.execute_query_all_async(BACKLOG_SQL, kinds=kinds)
        return [(row["task_name"], int(row["depth"]), float(row["oldest"] or 0.0))
                for row in rows]

    async def run_worker(self, *, wait: bool = False, **options: Any) -> None:
        """Run a worker in this process: with `wait=False` until the queue is empty."""
        await self.open()
        options.setdefault("install_signal_handlers", False)
        options.setdefault("queues", [QUEUE, WEBHOOK_QUEUE])
        options.setdefault("fetch_job_polling_interval", 1.0)
        await self.app.run_worker_async(wait=wait, **options)

    async def run_workers(self, *, concurrency: int, webhook_concurrency: int,
                          queues: tuple[str, ...] = (QUEUE, WEBHOOK_QUEUE), **options: Any
                          ) -> None:
        """Run until cancelled: one worker loop for the `relleks` queue (`concurrency` slots)
        and one for the `webhooks` queue (`webhook_concurrency` slots), each only if listed in
        `queues`. Separate slots: slow receivers never hold up an export or a deletion."""
        loops = []
        if QUEUE in queues:
            loops.append(self.run_worker(wait=True, queues=[QUEUE], concurrency=concurrency,
                                         name="relleks", **options))
        if WEBHOOK_QUEUE in queues:
            loops.append(self.run_worker(wait=True, queues=[WEBHOOK_QUEUE],
                                         concurrency=webhook_concurrency, name="webhooks",
                                         **options))
        await asyncio.gather(*loops)

    def start_worker(self) -> None:
        """The embedded worker: jobs run inside the server process (always on SQLite, whose
        in-memory queue no other process can see; on PostgreSQL when JOBS_IN_PROCESS is on):
        one slot for the `relleks` queue, WEBHOOK_CONCURRENCY for webhook deliveries."""
        if self._worker is None:
            self._worker = asyncio.create_task(
                self.run_workers(concurrency=1,
                                 webhook_concurrency=self.settings.webhook_concurrency),
                name="relleks-jobs-worker")

    async def stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
            self._worker = None
