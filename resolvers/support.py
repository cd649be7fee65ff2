"""The help center: opening support tickets, writing in them (the requester or Relleks staff),
staff's queue and ticket statuses, and the mail each side gets when the other writes.

A ticket is its requester's: anyone else (staff aside) gets NOT_FOUND for it, as for a ticket
that does not exist. Staff are users with a `StaffMember` row (`python -m scripts.staff`);
the role reaches tickets only, never an organization's data. Bodies are plain text or Markdown:
Markdown is rendered with raw HTML off and the result sanitised by an allow-list (nh3), so
`bodyHtml` is safe to show as it is. docs/support.md describes the whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import cast

import nh3
import structlog
from markdown_it import MarkdownIt
from tortoise.expressions import Case, F, When
from tortoise.queryset import QuerySet

from core.errors import BadUserInput, Conflict, Forbidden, NotFound
from core.validation import validate
from engine.context import Context
from mail import messages
from models.consents import ConsentKind
from models.jobs import ScheduledWork, WorkStatus
from models.support import (
    DATA_RIGHTS,
    RIGHTS_WINDOW,
    MessageFormat,
    SupportAccessGrant,
    SupportAccessRead,
    SupportAttachment,
    SupportMessage,
    SupportTicket,
    TicketCategory,
    TicketStatus,
    TicketWorkKind,
)
from realtime.outbox import in_transaction
from resolvers import support_attachments as attachments
from resolvers import ticket_work
from resolvers.activity import record
from resolvers.consents import set_consent
from resolvers.deletions import delete_account
from resolvers.exports import request_data_export

log = structlog.get_logger("relleks.support")

SUBJECT_MAX = 200
BODY_MAX = 10_000
MAX_GRANT_HOURS = 7 * 24
"""The longest support access grant: 7 days."""
ALLOWED_TAGS = frozenset({"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol",
                          "li", "a", "h1", "h2", "h3", "h4", "h5", "h6", "hr"})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


@cache
def _markdown() -> MarkdownIt:
    """CommonMark with raw HTML off (what is typed as HTML shows as text)."""
    return MarkdownIt("commonmark", {"html": False})


def render(body: str, format: MessageFormat) -> str:
    """The HTML of a message: escaped plain text with its line breaks, or Markdown rendered
    and sanitised (only the tags of `ALLOWED_TAGS`, links with http, https or mailto and
    `rel="noopener noreferrer nofollow"`)."""
    if format is MessageFormat.PLAIN:
        return ticket_work.plain_html(body)
    return nh3.clean(_markdown().render(body), tags=set(ALLOWED_TAGS),
                     attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
                     url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow")


@dataclass
class Reply:
    """A message written, and its ticket as it now stands."""

    ticket: SupportTicket
    message: SupportMessage


def ticket_url(ctx: Context, ticket: SupportTicket) -> str:
    return ticket_work.ticket_page(ctx.services.settings.public_url, ticket.id)


async def open_ticket(ctx: Context, *, category: TicketCategory, subject: str, body: str,
                      format: MessageFormat, organization_id: uuid.UUID | None,
                      uploads: Sequence[object] | None = None) -> SupportTicket:
    """A new ticket with its first message (and its attachments), by the viewer; staff are
    mailed. An organization the viewer does not belong to is NOT_FOUND (naming
    `organizationId`)."""
    user = ctx.user
    with validate() as check:
        subject_text = check.name("subject", subject, max_length=SUBJECT_MAX)
        body_text = check.multiline("body", body, max_length=BODY_MAX)
    if organization_id is not None and await ctx.access.membership(organization_id) is None:
        raise NotFound("organization", field="organizationId")
    # The day's budget is spent before the files are read and scanned: refused files count.
    await ctx.services.limiter.hit_support_ticket(user_id=user.id)
    files = await attachments.check_uploads(ctx, uploads)
    now = datetime.now(UTC)
    ticket = SupportTicket(
        id=uuid.uuid4(), requester_id=user.id, organization_id=organization_id,
        category=category, subject=subject_text, status=TicketStatus.OPEN, message_count=1,
        last_message_at=now,
        due_at=now + RIGHTS_WINDOW if category in DATA_RIGHTS else None)
    stored = await attachments.store(ctx, ticket, files)
    try:
        async with in_transaction():
            await ticket.save(force_create=True)
            message = await SupportMessage.create(
                ticket_id=ticket.id, requester_id=user.id, author_id=user.id,
                from_staff=False, format=format, body=body_text,
                body_html=render(body_text, format))
            await attachments.attach(ticket, message, files, stored)
    except BaseException:
        await attachments.delete_files(ctx.services.storage, [key for _, key, _ in stored])
        raise
    await _mail_staff(ctx, ticket, opened=True)
    log.info("support.ticket_opened", ticket_id=str(ticket.id), category=category.value,
             request_id=ctx.request_id)
    return ticket


async def ticket_for(ctx: Context, ticket_id: uuid.UUID, *, field: str = "ticketId"
                     ) -> tuple[SupportTicket, bool]:
    """The ticket and whether the viewer reaches it as staff: its requester reaches it as
    themselves, staff as staff; anyone else gets NOT_FOUND naming `field`."""
    ticket = await SupportTicket.filter(id=ticket_id).first()
    if ticket is not None:
        if ctx.viewer.user is not None and ticket.requester_id == ctx.viewer.user.id:
            return ticket, False
        if await ctx.access.is_staff():
            return ticket, True
    raise NotFound("support ticket", field=field)


async def reply(ctx: Context, ticket_id: uuid.UUID, *, body: str,
                format: MessageFormat, uploads: Sequence[object] | None = None) -> Reply:
    """A message in the ticket, by its requester (the ticket then waits on support, RESOLVED
    ones reopen) or by staff (it then waits on the customer); the other side is mailed. A
    ticket holds at most SUPPORT_MESSAGES_PER_TICKET messages: CONFLICT, reason TICKET_FULL."""
    ticket, as_staff = await ticket_for(ctx, ticket_id)
    with validate() as check:
        body_text = check.multiline("body", body, max_length=BODY_MAX)
    files = await attachments.check_uploads(ctx, uploads)
    limit = ctx.services.settings.support_messages_per_ticket
    status = TicketStatus.WAITING_ON_CUSTOMER if as_staff else TicketStatus.WAITING_ON_SUPPORT
    now = datetime.now(UTC)
    stored = await attachments.store(ctx, ticket, files)
    try:
        async with in_transaction():
            # One statement counts the message and checks the bound, so concurrent replies
            # cannot pass it together.
            counted = await SupportTicket.filter(id=ticket.id, message_count__lt=limit).update(
                message_count=F("message_count") + 1, status=status, last_message_at=now,
                updated_at=now, resolved_at=None)
            if not counted:
                raise Conflict(f"This ticket holds the most messages a ticket may ({limit}): "
                               "open a new one.", reason="TICKET_FULL")
            message = await SupportMessage.create(
                ticket_id=ticket.id, requester_id=ticket.requester_id, author_id=ctx.user.id,
                from_staff=as_staff, format=format, body=body_text,
                body_html=render(body_text, format))
            await attachments.attach(ticket, message, files, stored)
    except BaseException:
        await attachments.delete_files(ctx.services.storage, [key for _, key, _ in stored])
        raise
    refreshed = await SupportTicket.get(id=ticket.id)
    if as_staff:
        await _mail_requester(ctx, refreshed)
    else:
        await _mail_staff(ctx, refreshed, opened=False)
    return Reply(refreshed, message)


async def set_status(ctx: Context, ticket_id: uuid.UUID, status: TicketStatus) -> SupportTicket:
    """Staff set a ticket's status (the field's permission let only staff through)."""
    ticket, as_staff = await ticket_for(ctx, ticket_id)
    if not as_staff:  # the requester of a ticket is not staff: the field refused them already
        raise NotFound("support ticket", field="ticketId")
    ticket.status = status
    if status is TicketStatus.RESOLVED:
        now = datetime.now(UTC)
        ticket_work.staff_closed(ticket, now)
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None
    await ticket.save(update_fields=["status", "closed_at", "resolved_at", "updated_at"])
    return ticket


def my_tickets_query(ctx: Context) -> QuerySet[SupportTicket]:
    """The viewer's tickets, newest first."""
    return SupportTicket.filter(requester_id=ctx.user.id).order_by("-created_at", "-id")


def queue_query(status: TicketStatus | None) -> QuerySet[SupportTicket]:
    """Every ticket (of `status`, when given): staff's queue. Data-rights tickets come first,
    the nearest legal deadline first; then the others, the longest untouched first. (NULLs
    sort first on SQLite and last on PostgreSQL, so `undated` orders them the same on both.)"""
    query = SupportTicket.all()
    if status is not None:
        query = query.filter(status=status)
    return query.annotate(undated=Case(When(due_at__isnull=True, then="1"),
                                       default="0")) \
        .order_by("undated", "due_at", "updated_at", "id")


def messages_query(ticket: SupportTicket) -> QuerySet[SupportMessage]:
    """A ticket's messages, oldest first (the conversation's order)."""
    return SupportMessage.filter(ticket_id=ticket.id).order_by("created_at", "id")


def attachments_query(message: SupportMessage) -> QuerySet[SupportAttachment]:
    """A message's attachments, in the order they were sent."""
    return SupportAttachment.filter(message_id=message.id).order_by("position")


async def _mail_staff(ctx: Context, ticket: SupportTicket, *, opened: bool) -> None:
    try:
        await ctx.services.mailer.send(messages.support_waiting_mail(
            to=ctx.services.settings.support_mailbox, category=ticket.category.name,
            url=ticket_url(ctx, ticket), opened=opened))
    except Exception:  # the ticket is written and in the queue; the failure is logged
        log.exception("support.staff_mail_failed", ticket_id=str(ticket.id))


async def _mail_requester(ctx: Context, ticket: SupportTicket) -> None:
    requester = await ctx.loaders.user.load(ticket.requester_id)
    if requester is None:
        return
    try:
        await ctx.services.mailer.send(messages.support_answered_mail(
            to=requester.email, category=ticket.category.name, url=ticket_url(ctx, ticket)))
    except Exception:  # the answer is written and shown in the app; the failure is logged
        log.exception("support.requester_mail_failed", ticket_id=str(ticket.id))


async def organization_of_ticket(ticket_id: uuid.UUID) -> uuid.UUID | None:
    """The organization a ticket names (None for none, or no such ticket): where
    `grantSupportAccess` finds the org whose OWNER may grant from it."""
    rows = await SupportTicket.filter(id=ticket_id).values_list("organization_id", flat=True)
    return cast("uuid.UUID | None", rows[0]) if rows else None


async def grant_access(ctx: Context, ticket_id: uuid.UUID, hours: int) -> SupportAccessGrant:
    """Read access for Relleks staff to the organization the ticket names, for `hours` (1 to
    `MAX_GRANT_HOURS`), recorded in the activity log (the field's permission checked that the
    caller is the org's OWNER)."""
    if not 1 <= hours <= MAX_GRANT_HOURS:
        raise BadUserInput.field("hours", f"1 to {MAX_GRANT_HOURS} (7 days)")
    org_id = await organization_of_ticket(ticket_id)
    if org_id is None:  # the permission found it; gone since
        raise NotFound("support ticket", field="ticketId")
    expires_at = datetime.now(UTC) + timedelta(hours=hours)
    async with in_transaction():
        grant = await SupportAccessGrant.create(
            organization_id=org_id, ticket_id=ticket_id, granted_by_id=ctx.user.id,
            expires_at=expires_at)
        await record(ctx, org_id, "support_access.granted", target_type="support_access_grant",
                     target_id=grant.id,
                     summary={"hours": hours, "expiresAt": expires_at.isoformat()})
    return grant


async def revoke_access(ctx: Context, grant_id: uuid.UUID) -> SupportAccessGrant:
    """End a grant now; one already ended (revoked or expired) is returned as it is."""
    grant = await ctx.row(SupportAccessGrant, grant_id, what="support access grant")
    now = datetime.now(UTC)
    if grant.revoked_at is None and grant.expires_at > now:
        grant.revoked_at = now
        grant.revoked_by_id = ctx.user.id
        async with in_transaction():
            await grant.save(update_fields=["revoked_at", "revoked_by_id"])
            await record(ctx, grant.organization_id, "support_access.revoked",
                         target_type="support_access_grant", target_id=grant.id)
    return grant


def grants_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[SupportAccessGrant]:
    """The org's grants, newest first."""
    return ctx.access.scoped(SupportAccessGrant, org_id).order_by("-created_at", "-id")


def reads_query(ctx: Context, grant: SupportAccessGrant) -> QuerySet[SupportAccessRead]:
    """The reads made under a grant, newest first."""
    return ctx.access.scoped(SupportAccessRead, grant.organization_id).filter(
        grant_id=grant.id).order_by("-created_at", "-id")


def is_live(grant: SupportAccessGrant) -> bool:
    return grant.revoked_at is None and grant.expires_at > datetime.now(UTC)


async def confirm_work(ctx: Context, ticket_id: uuid.UUID, password: str | None
                       ) -> SupportTicket:
    """The requester confirms the work their data-rights ticket proposes, which then starts:
    the personal export, the account deletion (with its grace period, and the password its
    mutation asks for), or withdrawing every optional consent. Confirming again returns the
    ticket as it is; staff cannot confirm for the requester (FORBIDDEN, reason
    REQUESTER_ONLY); a ticket whose answer is staff's, or no data right, is CONFLICT, reason
    NOTHING_TO_CONFIRM."""
    ticket, as_staff = await ticket_for(ctx, ticket_id)
    if as_staff:
        raise Forbidden("Only the person who opened this request can confirm its work.",
                        reason="REQUESTER_ONLY")
    kind = ticket.work_kind
    if kind is None or kind is TicketWorkKind.STAFF_ANSWER:
        raise Conflict("This ticket runs no work: Relleks staff answer it.",
                       reason="NOTHING_TO_CONFIRM")
    if ticket.confirmed_at is not None:
        return ticket
    if kind is TicketWorkKind.ACCOUNT_DELETION and not password:
        raise BadUserInput.field("password", "is needed to delete your account")
    now = datetime.now(UTC)
    # One conditional UPDATE claims the confirmation, so two at once start the work once.
    if not await SupportTicket.filter(id=ticket.id, confirmed_at__isnull=True).update(
            confirmed_at=now, updated_at=now):
        return await SupportTicket.get(id=ticket.id)
    try:
        work = await _start(ctx, kind, password or "")
    except BaseException:
        await SupportTicket.filter(id=ticket.id).update(confirmed_at=None)
        raise
    services = ctx.services
    if work is None:  # the consents are withdrawn: done
        await ticket_work.close(services, ticket.id, CONSENTS_WITHDRAWN)
    else:
        await SupportTicket.filter(id=ticket.id).update(work_id=work.id)
        if kind is TicketWorkKind.ACCOUNT_DELETION:  # done once scheduled (docs/support.md)
            await ticket_work.close(services, ticket.id, ticket_work.done_text(work))
        else:
            await ticket_work.system_message(ticket.id, EXPORT_STARTED)
            # The job may have finished before the ticket named it (its own call then found
            # no ticket): read it again after naming it.
            fresh = await ScheduledWork.get(id=work.id)
            if fresh.status is WorkStatus.DONE:
                await ticket_work.work_done(services, fresh)
    log.info("support.work_confirmed", ticket_id=str(ticket.id), kind=kind.value,
             request_id=ctx.request_id)
    return await SupportTicket.get(id=ticket.id)


CONSENTS_WITHDRAWN = (
    "Done: every optional use of your data is now refused (AI training and product emails: "
    "see `me.consents`). What remains is what running your account needs. To have your "
    "account itself frozen, reply here and Relleks staff will answer.")
EXPORT_STARTED = ("You confirmed: your data export is being prepared. This request resolves "
                  "itself when it is ready.")


async def _start(ctx: Context, kind: TicketWorkKind, password: str) -> ScheduledWork | None:
    """Run the existing work for `kind`: the `scheduled_work` row it recorded, or None for
    work done at once."""
    if kind is TicketWorkKind.PERSONAL_EXPORT:
        return await request_data_export(ctx)
    if kind is TicketWorkKind.ACCOUNT_DELETION:
        return await delete_account(ctx, password)
    for consent in ConsentKind:
        await set_consent(ctx, consent, False)
    return None
