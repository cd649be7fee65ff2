"""A job worker process for production on PostgreSQL: `python -m jobs.worker`.

Run as many as needed, on any machines that reach the database; each takes jobs from
procrastinate's queue, runs the periodic sweep (procrastinate defers each periodic run once,
whichever worker gets there first) and stops cleanly on SIGINT/SIGTERM. Configuration is the
server's (the same environment variables, DATABASE_URL first); the database must be migrated
(which also applies procrastinate's schema).
"""

from __future__ import annotations

import argparse
import asyncio

from billing.budgets import CostBudgets
from core.error_reports import configure_error_reports, flush
from core.logs import configure_logging
from core.settings import ConfigurationError, Settings
from core.tracing import configure_tracing, shutdown_tracing
from database import close_database, init_database
from database.queue_tables import is_postgres
from jobs.tasks import register as register_tasks
from services import Services


async def main(concurrency: int) -> None:
    settings = Settings.from_env()
    if not is_postgres(settings.database_url):
        raise ConfigurationError("A separate worker needs PostgreSQL; on SQLite the server runs "
                                 "the jobs itself")
    configure_logging(settings.log_level)
    configure_tracing(settings)
    configure_error_reports(settings)
    services = Services.build(settings, cost_budgets=CostBudgets)
    register_tasks(services)
    await init_database(settings.database_url, global_fallback=True)
    try:
        await services.jobs.run_worker(wait=True, concurrency=concurrency,
                                       install_signal_handlers=True)
    finally:
        await services.jobs.close()
        await services.stripe.aclose()
        await close_database()
        shutdown_tracing()
        flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=2,
                        help="jobs run at the same time by this process (default 2)")
    asyncio.run(main(parser.parse_args().concurrency))
