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
import uuid
from datetime import datetime
from typing import Any

import procrastinate
import structlog
from procrastinate.testing import InMemoryConnector

from core import tracing
from core.settings import Settings
from database.queue_tables import is_postgres, libpq_url

log = structlog.get_logger("relleks.jobs")

WORK_TASK = "relleks.run_work"
SWEEP_TASK = "relleks.sweep"
DOMAIN_CHECK_TASK = "relleks.check_custom_domain"
WEBHOOK_TASK = "relleks.deliver_webhook"
QUEUE = "relleks"
def _trace() -> dict[str, str]:
    """The job's `traceparent` argument: the span that queues it (a request's, a job's), which
    the job's own span links to (`jobs/tasks.py`). Nothing when tracing is off."""
    parent = tracing.traceparent()
    return {"traceparent": parent} if parent else {}


class Jobs:
    """One process's job machinery: the queue, its connector and the worker that runs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = not is_postgres(settings.database_url)
        connector: Any = InMemoryConnector() if self.embedded else \
            procrastinate.PsycopgConnector(conninfo=libpq_url(settings.database_url),
                                           min_size=1, max_size=4)
        self.app = procrastinate.App(connector=connector)
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

    async def defer_webhook(self, message_id: uuid.UUID, *,
                            schedule_at: datetime | None = None) -> bool:
        """Queue one delivery attempt of a webhook message (`jobs.webhooks`). The message's
        `next_attempt_at` is the promise: a failure here is logged and the sweep queues it."""
        try:
            await self.open()
            task = self.app.configure_task(WEBHOOK_TASK, schedule_at=schedule_at) \
                if schedule_at else self.app.configure_task(WEBHOOK_TASK)
            await task.defer_async(message_id=str(message_id), **_trace())
        except Exception:  # the row says it is due: the sweep will queue it
            log.warning("jobs.defer_failed", message_id=str(message_id), exc_info=True)
            return False
        return True

    async def run_worker(self, *, wait: bool = False, **options: Any) -> None:
        """Run a worker in this process: with `wait=False` until the queue is empty."""
        await self.open()
        options.setdefault("install_signal_handlers", False)
        options.setdefault("queues", [QUEUE])
        options.setdefault("fetch_job_polling_interval", 1.0)
        await self.app.run_worker_async(wait=wait, **options)

    def start_worker(self) -> None:
        """The embedded worker: jobs run inside the server process (always on SQLite, whose
        in-memory queue no other process can see; on PostgreSQL when JOBS_IN_PROCESS is on)."""
        if self._worker is None:
            self._worker = asyncio.create_task(self.run_worker(wait=True),
                                               name="relleks-jobs-worker")

    async def stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
            self._worker = None
