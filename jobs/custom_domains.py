"""Scheduled custom-domain checks: the sweep queues the domains whose check is due, and a job
(`relleks.check_custom_domain`) checks one.

The promise is the row's `next_check_at` (never only the queue): the sweep pushes it one
`JOBS_LEASE` ahead when it queues the check, and the check sets the real next time (the backoff
while PENDING, a day once VERIFIED). A lost job is queued again after the lease; a duplicate
checks twice, harmlessly. `resolvers/custom_domains.py` holds the checks themselves.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from resolvers.custom_domains import due_checks, run_scheduled_check

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.jobs")


async def queue_due_checks(services: Services, *, now: datetime | None = None) -> list[str]:
    """Queue a check job for every domain whose check is due; their ids."""
    now = now or datetime.now(UTC)
    due = await due_checks(now, timedelta(seconds=services.settings.jobs_lease))
    queued = [str(domain_id) for domain_id in due
              if await services.jobs.defer_domain_check(domain_id)]
    if queued:
        log.info("jobs.domain_checks_queued", count=len(queued))
    return queued


async def check_domain(services: Services, domain_id: uuid.UUID) -> None:
    """The job: one scheduled check (DNS errors are verdicts, so it raises only on a database
    failure, which procrastinate retries)."""
    await run_scheduled_check(services, domain_id)
