"""A job worker process for production on PostgreSQL: `python -m jobs.worker`.

Run as many as needed, on any machines that reach the database; each takes jobs from
procrastinate's queue, runs the periodic sweep (procrastinate defers each periodic run once,
whichever worker gets there first) and stops cleanly on SIGINT/SIGTERM: it takes no new job,
lets the running ones finish for up to SHUTDOWN_TIMEOUT seconds, then cuts them and queues
them again (docs/shutdown.md), and exits 0. It runs two worker loops with their own
slots: `--concurrency` (default 2) for the `relleks` queue (exports, deletions, domain
checks, the sweep) and `--webhook-concurrency` (default WEBHOOK_CONCURRENCY, 16) for webhook
deliveries, which are async I/O waiting on receivers; `--queues webhooks` (or `relleks`)
runs one loop only, for separate processes.
Configuration is the server's (the same environment variables, DATABASE_URL first); the
database must be migrated (which also applies procrastinate's schema).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import structlog

from billing.budgets import CostBudgets
from core.error_reports import configure_error_reports, flush
from core.logs import configure_logging
from core.memory import tune_allocator
from core.settings import ConfigurationError, Settings
from core.tracing import configure_tracing, shutdown_tracing
from database import close_database, init_database
from database.queue_tables import is_postgres
from jobs.tasks import register as register_tasks
from keystore import keys
from keystore.kek import kek_from_settings
from observability.metrics import mark_process_dead
from services import Services
from services.queue import QUEUE, WEBHOOK_QUEUE

log = structlog.get_logger("relleks.jobs")


async def main(concurrency: int, webhook_concurrency: int | None = None,
               queues: tuple[str, ...] = (QUEUE, WEBHOOK_QUEUE)) -> None:
    settings = Settings.from_env()
    if not is_postgres(settings.database_url):
        raise ConfigurationError("A separate worker needs PostgreSQL; on SQLite the server runs "
                                 "the jobs itself")
    if settings.queue_through_pooler:
        raise ConfigurationError("With DATABASE_POOLER=transaction a worker needs "
                                 "JOBS_DATABASE_URL, PostgreSQL itself: it LISTENs for new jobs, "
                                 "which a transaction pooler cannot carry")
    configure_logging(settings.log_level)
    tune_allocator()  # freed buffers go back to the system (core/memory.py)
    keys.use(kek_from_settings(settings), ttl=settings.key_cache_seconds)
    configure_tracing(settings)
    configure_error_reports(settings)
    services = Services.build(settings, cost_budgets=CostBudgets)
    register_tasks(services)
    await init_database(settings.database_url, keystore_url=settings.keystore_url,
                        global_fallback=True, pooler=settings.database_pooler)
    loops = asyncio.ensure_future(services.jobs.run_workers(
        concurrency=concurrency,
        webhook_concurrency=webhook_concurrency or settings.webhook_concurrency,
        queues=queues))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        # Procrastinate's graceful shutdown: no new job, the running ones get SHUTDOWN_TIMEOUT
        # seconds, then are cut and queued again. Once: a second cancel would cut that short.
        if not loops.cancelling():
            log.info("jobs.worker_stopping", shutdown_timeout=settings.shutdown_timeout)
            loops.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await loops
    finally:
        await services.jobs.close()
        await services.stripe.aclose()
        await close_database()
        mark_process_dead()  # its live gauges leave a shared PROMETHEUS_MULTIPROC_DIR's sums
        shutdown_tracing()
        flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=2,
                        help="jobs of the relleks queue run at the same time (default 2)")
    parser.add_argument("--webhook-concurrency", type=int, default=None,
                        help="webhook deliveries run at the same time (default "
                             "WEBHOOK_CONCURRENCY, 16)")
    parser.add_argument("--queues", default=f"{QUEUE},{WEBHOOK_QUEUE}",
                        help=f"the queues this process works on (default {QUEUE},{WEBHOOK_QUEUE})")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.concurrency, arguments.webhook_concurrency,
                     tuple(q.strip() for q in arguments.queues.split(",") if q.strip())))
