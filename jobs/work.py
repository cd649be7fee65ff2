"""Carrying out one row of `scheduled_work`, whichever job or sweep asks.

Every handler is idempotent: a job may run twice (a re-queue after a worker died, a duplicate
from the sweep), so each one claims its row with a conditional UPDATE, writes deterministic
results (an export's archive key is the row's id) and skips what is already done (an account
or organization that is already gone). A failure goes back to PENDING with its error while
procrastinate retries it with backoff; the last attempt records FAILED and the error, which the
API shows.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from tortoise.expressions import F

from jobs import deletions, encryption, exports
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from resolvers import ticket_work

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.jobs")

Handler = Callable[["Services", ScheduledWork], Awaitable[dict[str, Any]]]
"""Does the work and returns the columns to set on the row when it is DONE."""


def handlers() -> dict[WorkKind, Handler]:
    return {
        WorkKind.USER_EXPORT: exports.build_user_export,
        WorkKind.ORG_EXPORT: exports.build_org_export,
        WorkKind.ACCOUNT_DELETION: deletions.delete_account,
        WorkKind.ORG_DELETION: deletions.delete_organization,
        WorkKind.KEY_ROTATION: encryption.reencrypt_org,
    }


async def claim(work_id: uuid.UUID, now: datetime) -> ScheduledWork | None:
    """Take the row if it is open and due; None when it is finished, canceled or not yet due."""
    taken = await ScheduledWork.filter(
        id=work_id, status__in=[WorkStatus.PENDING, WorkStatus.RUNNING], due_at__lte=now,
    ).update(status=WorkStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if not taken:
        return None
    return await ScheduledWork.get(id=work_id)


async def run(services: Services, work_id: uuid.UUID, *, final_attempt: bool) -> bool:
    """Do the work of one row. True when it is done; False when there was nothing to do.
    Raises the handler's error (procrastinate then retries or records the job failed)."""
    now = datetime.now(UTC)
    work = await claim(work_id, now)
    if work is None:
        log.info("jobs.skipped", work_id=str(work_id))
        return False
    try:
        columns = await handlers()[work.kind](services, work)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        # Re-queues by the sweep also count: a job that keeps killing its worker ends too.
        give_up = final_attempt or work.attempts >= 3 * (services.settings.jobs_max_attempts + 1)
        status = WorkStatus.FAILED if give_up else WorkStatus.PENDING
        await ScheduledWork.filter(id=work.id, status=WorkStatus.RUNNING).update(
            status=status, last_error=error,
            finished_at=datetime.now(UTC) if give_up else None)
        log.warning("jobs.failed" if give_up else "jobs.will_retry", work_id=str(work.id),
                    kind=work.kind.value, attempts=work.attempts, error=error)
        if give_up:
            await _tell_tickets(lambda: ticket_work.work_failed(work), work)
        raise
    await ScheduledWork.filter(id=work.id, status=WorkStatus.RUNNING).update(
        status=WorkStatus.DONE, finished_at=datetime.now(UTC), last_error=None, **columns)
    log.info("jobs.done", work_id=str(work.id), kind=work.kind.value, attempts=work.attempts)
    if work.kind is WorkKind.USER_EXPORT:  # a data-rights ticket waiting for it resolves
        async def resolve() -> int:
            return await ticket_work.work_done(services, await ScheduledWork.get(id=work.id))
        await _tell_tickets(resolve, work)
    return True


async def _tell_tickets(call: Callable[[], Awaitable[int]], work: ScheduledWork) -> None:
    """Let the support tickets waiting for this work know; a failure there is logged and
    leaves the work's own outcome alone (the sweep settles the tickets later:
    `resolvers.ticket_work.settle`)."""
    try:
        await call()
    except Exception:
        log.exception("jobs.tickets_not_told", work_id=str(work.id))
