"""The sweep: finds promised work that is due and unfinished and queues it again, queues the
custom-domain checks that are due, then applies retention, then mails the policy-change notices
still owed and the OWNERs of privacy requests past their deadline (once each), then
resolves the data-rights tickets whose export finished unnoticed. A procrastinate periodic
task runs it every minute; tests and operators call `sweep()` directly.

Work is re-queued when it is PENDING and due and was never queued or queued longer than the
lease ago (a lost job, a restart of the embedded worker), or RUNNING for longer than the lease
(its worker died mid-job). Jobs are idempotent, so a re-queue of work that was merely slow
costs a duplicate run that finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from tortoise.expressions import Q

from jobs.custom_domains import queue_due_checks
from jobs.retention import RetentionReport, apply_retention
from jobs.webhooks import queue_due
from models.jobs import ScheduledWork, WorkStatus
from resolvers.policies import send_policy_notices
from resolvers.privacy_requests import flag_overdue
from resolvers.ticket_work import settle

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.jobs")


@dataclass
class SweepReport:
    requeued: list[str] = field(default_factory=list)
    retention: RetentionReport | None = None
    policy_notices: int = 0
    """Users mailed that the terms and privacy policy changed (once per user and version)."""
    domain_checks: list[str] = field(default_factory=list)
    """Custom domains whose due check was queued (`jobs.custom_domains`)."""
    webhook_messages: list[str] = field(default_factory=list)
    """Due webhook messages queued again (`jobs.webhooks.queue_due`)."""
    tickets_settled: int = 0
    """Data-rights tickets resolved whose export finished without resolving them
    (`resolvers.ticket_work.settle`)."""
    privacy_overdue: int = 0
    """Privacy requests past their deadline whose OWNERs were mailed (once each)."""


async def requeue_due(services: Services, *, now: datetime | None = None,
                      lease: timedelta | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    lease = lease if lease is not None else timedelta(seconds=services.settings.jobs_lease)
    stale = now - lease
    not_queued_lately = Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale)
    due = await ScheduledWork.filter(
        (Q(status=WorkStatus.PENDING) | (Q(status=WorkStatus.RUNNING) &
                                         Q(started_at__lte=stale))) & not_queued_lately,
        due_at__lte=now,
    ).order_by("due_at").limit(500)
    requeued = []
    for work in due:
        await ScheduledWork.filter(id=work.id).update(dispatched_at=now)
        if await services.jobs.defer(work.id):
            requeued.append(str(work.id))
    if requeued:
        log.info("jobs.requeued", count=len(requeued))
    return requeued


async def sweep(services: Services, *, now: datetime | None = None,
                lease: timedelta | None = None) -> SweepReport:
    report = SweepReport(requeued=await requeue_due(services, now=now, lease=lease))
    report.domain_checks = await queue_due_checks(services, now=now)
    report.webhook_messages = await queue_due(services, now=now, lease=lease)
    report.retention = await apply_retention(services, now)
    report.policy_notices = await send_policy_notices(services)
    report.tickets_settled = await settle(services)
    report.privacy_overdue = await flag_overdue(services, now=now)
    return report
