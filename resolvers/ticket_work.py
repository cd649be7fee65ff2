"""What a data-rights ticket's work does to its ticket: the ticket resolves itself when its work
is done (a system message, a mail to the requester, the time-to-close metric), goes to staff
when the work fails, and opens again when the work is called off (an account deletion
canceled in its grace period).

The work itself is the existing one (`scheduled_work`: the personal export, the account
deletion), so this module is called from where that work changes state: the job that finishes
it (`jobs/work.py`), the sweep that settles what a lost call missed (`jobs/sweep.py`), the
deletion's cancellation (`resolvers/deletions.py`) and the confirmation itself
(`resolvers/support.py`). It imports no other resolver, so each of those may import it.

What a ticket shows of its work (`work_view`) is read from the `scheduled_work` row each time,
never copied onto the ticket, so it cannot drift from the export or deletion it names.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, cast

import structlog
from strawberry import relay
from tortoise.expressions import F

from mail import messages
from models.accounts import User
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.support import (
    MessageFormat,
    SupportMessage,
    SupportTicket,
    TicketStatus,
    TicketWorkKind,
)
from observability.metrics import observe_privacy_request_closed
from realtime.outbox import in_transaction

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.support")

TICKET_PAGE = "support/tickets"
"""The web client's page of a ticket: `{PUBLIC_URL}/support/tickets/<ticket global id>`."""
METRIC_SOURCE = "ticket"
SETTLE_BATCH = 500


class TicketWorkState(StrEnum):
    """Where a ticket's work stands, read from the work itself."""

    PROPOSED = "proposed"
    PENDING = "pending"
    RUNNING = "running"
    SCHEDULED = "scheduled"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class TicketWorkView:
    """A ticket's work as the API shows it (`SupportTicket.work`)."""

    ticket: SupportTicket
    kind: TicketWorkKind
    state: TicketWorkState
    started_at: datetime | None
    finished_at: datetime | None
    runs_at: datetime | None
    work: ScheduledWork | None


def plain_html(text: str) -> str:
    """Plain text as HTML: escaped, with its line breaks."""
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


def ticket_page(public_url: str, ticket_id: uuid.UUID) -> str:
    global_id = relay.to_base64("SupportTicket", str(ticket_id))
    return f"{public_url.rstrip('/')}/{TICKET_PAGE}/{global_id}"


def _state_of_work(kind: TicketWorkKind, work: ScheduledWork) -> TicketWorkState:
    if work.status is WorkStatus.PENDING and kind is TicketWorkKind.ACCOUNT_DELETION:
        return TicketWorkState.SCHEDULED  # the grace period runs
    return TicketWorkState(work.status.value)


def work_view(ticket: SupportTicket, work: ScheduledWork | None) -> TicketWorkView | None:
    """The work a ticket proposes or runs; None for a ticket that is no data right. `work` is
    the `scheduled_work` row `ticket.work_id` names (None when it names none)."""
    kind = ticket.work_kind
    if kind is None:
        return None
    started = ticket.confirmed_at
    if kind is TicketWorkKind.STAFF_ANSWER:
        state = TicketWorkState.DONE if ticket.closed_at else TicketWorkState.PENDING
        return TicketWorkView(ticket, kind, state, ticket.created_at, ticket.closed_at, None,
                              None)
    if started is None:
        return TicketWorkView(ticket, kind, TicketWorkState.PROPOSED, None, None, None, None)
    if kind is TicketWorkKind.CONSENT_WITHDRAWAL:
        state = TicketWorkState.DONE if ticket.closed_at else TicketWorkState.RUNNING
        return TicketWorkView(ticket, kind, state, started, ticket.closed_at, None, None)
    if work is None:  # being started (or its record is gone): what the ticket knows
        state = TicketWorkState.DONE if ticket.closed_at else TicketWorkState.PENDING
        return TicketWorkView(ticket, kind, state, started, ticket.closed_at, None, None)
    runs_at = work.due_at if kind is TicketWorkKind.ACCOUNT_DELETION else None
    return TicketWorkView(ticket, kind, _state_of_work(kind, work), started, work.finished_at,
                          runs_at, work)


async def system_message(ticket_id: uuid.UUID, text: str, *,
                         status: TicketStatus | None = None, **columns: object) -> bool:
    """Write a message by Relleks itself in the ticket (it is counted, but not held to the
    per-ticket bound: the record of what was done must be written), setting `status` and
    `columns` in the same transaction. False when the ticket is gone."""
    now = datetime.now(UTC)
    changes: dict[str, object] = {"message_count": F("message_count") + 1,
                                  "last_message_at": now, "updated_at": now, **columns}
    if status is not None:
        changes["status"] = status
    async with in_transaction():
        if not await SupportTicket.filter(id=ticket_id).update(**changes):
            return False
        # The message is encrypted under the requester's key (`key_owner_field`).
        requester_id = await SupportTicket.filter(id=ticket_id).first().values_list(
            "requester_id", flat=True)
        await SupportMessage.create(ticket_id=ticket_id, requester_id=requester_id,
                                    author_id=None, from_staff=False,
                                    from_system=True, format=MessageFormat.PLAIN, body=text,
                                    body_html=plain_html(text))
    return True


async def close(services: Services, ticket_id: uuid.UUID, text: str) -> bool:
    """Resolve the ticket because its work is done: once (a conditional UPDATE on `closed_at`
    claims it, so the job and the sweep cannot both), with `text` as a system message, the
    metric observed and the requester mailed. False when it was closed already (or is gone)."""
    now = datetime.now(UTC)
    async with in_transaction():
        claimed = await SupportTicket.filter(id=ticket_id, closed_at__isnull=True).update(
            closed_at=now, resolved_at=now)
        if not claimed:
            return False
        await system_message(ticket_id, text, status=TicketStatus.RESOLVED)
    ticket = await SupportTicket.get(id=ticket_id)
    observe_privacy_request_closed(METRIC_SOURCE, (now - ticket.created_at).total_seconds())
    log.info("support.request_done", ticket_id=str(ticket_id), category=ticket.category.value)
    requester = await User.get_or_none(id=ticket.requester_id)
    if requester is not None:
        try:
            await services.mailer.send(messages.support_request_done_mail(
                to=requester.email, category=ticket.category.name,
                url=ticket_page(services.settings.public_url, ticket_id)))
        except Exception:  # the ticket is resolved and says so in the app; logged
            log.exception("support.requester_mail_failed", ticket_id=str(ticket_id))
    return True


def staff_closed(ticket: SupportTicket, now: datetime) -> None:
    """Staff resolved a data-rights ticket (a correction is their answer): that is its
    completion, observed once (the caller saves `closed_at`)."""
    if ticket.is_data_right and ticket.closed_at is None:
        ticket.closed_at = now
        observe_privacy_request_closed(METRIC_SOURCE, (now - ticket.created_at).total_seconds())


def done_text(work: ScheduledWork) -> str:
    if work.kind is WorkKind.ACCOUNT_DELETION:
        return (f"Your account's deletion is scheduled for {work.due_at:%Y-%m-%d %H:%M} UTC. "
                "Until then you can sign in and cancel it (`cancelAccountDeletion`): this "
                "request then opens again.")
    return ("Your data export is ready: the download link was mailed to you, and "
            "`me.dataExports` (or this ticket's `work.dataExport`) gives a new one until it "
            "expires.")


async def _open_tickets_of(work_id: uuid.UUID) -> list[uuid.UUID]:
    return cast("list[uuid.UUID]", await SupportTicket.filter(
        work_id=work_id, closed_at__isnull=True).values_list("id", flat=True))


async def work_done(services: Services, work: ScheduledWork) -> int:
    """The export a ticket waits for is ready: resolve every ticket whose work it is. The
    number of tickets resolved."""
    ticket_ids = await _open_tickets_of(work.id)
    closed = 0
    for ticket_id in ticket_ids:
        closed += await close(services, ticket_id, done_text(work))
    return closed


async def work_failed(work: ScheduledWork) -> int:
    """The work gave up: its tickets wait on staff, with a system message saying so."""
    ticket_ids = await _open_tickets_of(work.id)
    for ticket_id in ticket_ids:
        await system_message(ticket_id, "The work of this request failed; Relleks staff "
                             "will look into it.", status=TicketStatus.WAITING_ON_SUPPORT)
    return len(ticket_ids)


async def work_canceled(work_id: uuid.UUID) -> int:
    """The account deletion a ticket ran was canceled: the ticket opens again, its work back
    to PROPOSED (the requester may confirm it again). The number of tickets reopened."""
    ticket_ids = cast("list[uuid.UUID]", await SupportTicket.filter(work_id=work_id)
                      .values_list("id", flat=True))
    for ticket_id in ticket_ids:
        await system_message(ticket_id, "You canceled the account deletion: this request is "
                             "open again. Confirm it again to delete your account, or close "
                             "it with a reply.", status=TicketStatus.OPEN, confirmed_at=None,
                             work_id=None, closed_at=None, resolved_at=None)
    return len(ticket_ids)


async def settle(services: Services) -> int:
    """Resolve the tickets whose work finished while the call that should have resolved them
    was lost (a crash between the job's two writes): the sweep's part. The number resolved."""
    waiting = await SupportTicket.filter(work_id__isnull=False, closed_at__isnull=True,
                                         confirmed_at__isnull=False) \
        .limit(SETTLE_BATCH).values_list("work_id", flat=True)
    if not waiting:
        return 0
    done = await ScheduledWork.filter(id__in=list(set(waiting)), status=WorkStatus.DONE,
                                      kind=WorkKind.USER_EXPORT)
    return sum([await work_done(services, work) for work in done])
