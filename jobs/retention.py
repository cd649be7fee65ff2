"""The retention sweep: what we keep, for how long, and deleting the rest.

The README's retention table is this one; change both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tortoise.expressions import Q

from models.accounts import EmailToken, RefreshToken, Session, SignUpRequest
from models.activity import ActivityEvent
from models.ai import AiGeneration, AiStatus
from models.forms import FormSubmission, SubmissionStatus
from models.idempotency import KEPT_FOR, IdempotencyKey
from models.jobs import ScheduledWork, WorkStatus
from models.orgs import Invitation
from models.privacy_requests import PrivacyRequest, PrivacyRequestStatus
from models.support import SupportAccessGrant, SupportAttachment, SupportTicket, TicketStatus
from models.tenancy import EVERY_ORG, system_scope
from models.tokens import ApiToken
from models.usage import ClientEvent, UsageDay, UsageOperationDay
from models.webhooks import WebhookAttempt, WebhookMessage
from resolvers.privacy_requests import forget_expired_exports

if TYPE_CHECKING:
    from services import Services

SWEEP = system_scope(EVERY_ORG, reason="retention: rows past their keeping time, in every org")

SESSIONS_AFTER_END = timedelta(days=30)
"""Ended (expired or revoked) sessions and their refresh tokens: kept 30 days so the owner can
see recent sign-ins on `sessions` and support can trace a stolen-token report."""
REFRESH_TOKENS_USED = timedelta(days=30)
"""Used refresh tokens of live sessions: their reuse detection needs them for the session's
life, and for no longer than the refresh TTL (30 days by default)."""
EMAIL_TOKENS_AFTER_EXPIRY = timedelta(days=7)
SIGN_UP_REQUESTS_AFTER_EXPIRY = timedelta(days=1)
"""Sign-ups waiting for confirmation, and used ones: a day past the link's expiry, to answer
"link expired" for a while; an unconfirmed one holds the name and password hash of someone
without an account."""
INVITATIONS_AFTER_END = timedelta(days=30)
"""Expired, revoked or accepted invitations: 30 days, so admins can see what happened."""
API_TOKENS_AFTER_END = timedelta(days=90)
"""Revoked or expired API tokens: 90 days, for the activity log entries that name them."""
ACTIVITY = timedelta(days=365)
"""Activity (the organization's audit and security log): one year."""
SPAM_SUBMISSIONS = timedelta(days=30)
"""Form submissions taken for spam: 30 days after they arrived, long enough to release one
wrongly caught, then gone (they may hold a real person's data)."""
HELD_SUBMISSIONS = timedelta(days=90)
"""Form submissions held for review that nobody released: 90 days after they arrived."""
UNCONFIRMED_SUBMISSIONS = timedelta(days=7)
"""Double opt-in submissions never confirmed: 7 days after their link expired (48 hours), so
"link expired" can be told apart; the person never agreed to more."""
DISCARDED_SUBMISSIONS = timedelta(days=30)
"""Discarded submissions (their values are dropped at once): the record of when and why, 30
days."""
IDEMPOTENCY_KEYS = KEPT_FOR
"""Idempotency keys and the responses stored with them (which may name people): 24 hours after
they were claimed, the window in which a retry replays (`web/idempotency.py`, which also treats
an older key as new)."""
WEBHOOK_MESSAGES = timedelta(days=30)
"""Webhook messages (and their attempts with them): 30 days after they were created, whatever
their status, so an endpoint left disabled for a month loses its oldest waiting messages."""
WEBHOOK_EXCERPTS = timedelta(days=7)
"""The first KiB of a receiver's answer kept on each attempt: blanked after 7 days (a receiver
may echo personal data; an erasure also blanks the ones naming the person at once)."""
AI_GENERATIONS = timedelta(days=180)
"""AI generations (output and provenance): 180 days after they were asked for. Long enough to
answer "what did the AI see about me, and which provider got it" for two quarters of billing
and support questions; short, because an output is derived from personal data and is
regenerated in seconds when needed."""
AI_STALE = timedelta(minutes=15)
"""A generation still PENDING or STREAMING after 15 minutes lost its process (a restart):
it is stored FAILED (UNAVAILABLE) and charges nothing."""
CLIENT_EVENTS = timedelta(days=90)
"""Page views and client errors reported by first-party clients: 90 days after they arrived."""
USAGE_AGGREGATES = timedelta(days=400)
"""Daily usage aggregates (counts only, no personal data): 400 days, a year and a month, so a
month can be compared with the same month a year before."""
RESOLVED_TICKETS = timedelta(days=365)
"""Support tickets RESOLVED a year ago (and not reopened), with their messages, attached files
and the support access grants made from them (and their reads): a year answers "what did
support tell me" and shows how a data-rights request was handled for as long as the activity
log keeps the grant's events; a ticket with a grant made in that year stays until the grant is
a year old too."""
TICKET_BATCH = 500
"""Tickets deleted per sweep at most (the next sweep, a minute later, takes the rest)."""
UNVERIFIED_PRIVACY_REQUESTS = timedelta(days=7)
"""Privacy requests whose verification link was never opened: 7 days after it expired (48
hours), so "link expired" can be told apart; nothing of them ever reached the organization."""
CLOSED_PRIVACY_REQUESTS = timedelta(days=3 * 365)
"""Completed or rejected privacy requests (the requester's email, what was asked, when and how
it was answered): three years after they closed, the record that the organization answered
(GDPR article 5(2), accountability) for as long as a complaint can usually be raised. The
copy handed to an access request's requester is deleted when its link expires
(EXPORT_TTL_HOURS)."""
FINISHED_WORK = timedelta(days=365)
"""Records of finished, failed or canceled scheduled work (deletions done): one year."""


async def _resolved_tickets(services: Services, now: datetime) -> int:
    """Delete tickets resolved RESOLVED_TICKETS ago, their rows first, then their files (an
    interrupted sweep leaves at worst an encrypted file no row names)."""
    cutoff = now - RESOLVED_TICKETS
    recent_grants = await SWEEP.scoped(SupportAccessGrant).filter(
        created_at__gte=cutoff).values_list("ticket_id", flat=True)
    due = SupportTicket.filter(status=TicketStatus.RESOLVED, resolved_at__lt=cutoff)
    if recent_grants:
        due = due.exclude(id__in=list(recent_grants))
    ids = await due.order_by("resolved_at").limit(TICKET_BATCH).values_list("id", flat=True)
    if not ids:
        return 0
    files = await SupportAttachment.filter(ticket_id__in=list(ids)) \
        .values_list("storage_key", flat=True)
    await SupportTicket.filter(id__in=list(ids)).delete()  # messages and files' rows cascade
    for key in files:
        await services.storage.delete(str(key))
    return len(ids)


@dataclass
class RetentionReport:
    """How many rows of each kind the sweep deleted."""

    deleted: dict[str, int]


async def apply_retention(services: Services, now: datetime | None = None) -> RetentionReport:
    now = now or datetime.now(UTC)
    deleted: dict[str, int] = {}

    expired = await ScheduledWork.filter(archive_key__isnull=False, expires_at__lt=now)
    for work in expired:
        assert work.archive_key is not None
        await services.storage.delete(work.archive_key)
        await ScheduledWork.filter(id=work.id).update(archive_key=None, download_token_hash=None)
    deleted["export_archives"] = len(expired)

    ended = now - SESSIONS_AFTER_END
    old_sessions = await Session.filter(
        Q(expires_at__lt=ended) | Q(revoked_at__lt=ended)).values_list("id", flat=True)
    deleted["refresh_tokens"] = await RefreshToken.filter(
        Q(session_id__in=list(old_sessions)) |
        Q(used_at__lt=now - REFRESH_TOKENS_USED)).delete()
    deleted["sessions"] = await Session.filter(id__in=list(old_sessions)).delete()
    deleted["email_tokens"] = await EmailToken.filter(
        expires_at__lt=now - EMAIL_TOKENS_AFTER_EXPIRY).delete()
    deleted["sign_up_requests"] = await SignUpRequest.filter(
        expires_at__lt=now - SIGN_UP_REQUESTS_AFTER_EXPIRY).delete()
    gone = now - INVITATIONS_AFTER_END
    deleted["invitations"] = await SWEEP.scoped(Invitation).filter(
        Q(expires_at__lt=gone) | Q(revoked_at__lt=gone) | Q(accepted_at__lt=gone)).delete()
    gone = now - API_TOKENS_AFTER_END
    deleted["api_tokens"] = await SWEEP.scoped(ApiToken).filter(
        Q(revoked_at__lt=gone) | Q(expires_at__lt=gone)).delete()
    deleted["activity_events"] = await SWEEP.scoped(ActivityEvent).filter(
        created_at__lt=now - ACTIVITY).delete()
    submissions = SWEEP.scoped(FormSubmission)
    deleted["spam_submissions"] = await submissions.filter(
        status=SubmissionStatus.SPAM, created_at__lt=now - SPAM_SUBMISSIONS).delete()
    deleted["held_submissions"] = await submissions.filter(
        status=SubmissionStatus.HELD, created_at__lt=now - HELD_SUBMISSIONS).delete()
    deleted["unconfirmed_submissions"] = await submissions.filter(
        status=SubmissionStatus.PENDING,
        confirm_expires_at__lt=now - UNCONFIRMED_SUBMISSIONS).delete()
    deleted["discarded_submissions"] = await submissions.filter(
        status=SubmissionStatus.DISCARDED, decided_at__lt=now - DISCARDED_SUBMISSIONS).delete()
    deleted["idempotency_keys"] = await IdempotencyKey.filter(
        created_at__lte=now - IDEMPOTENCY_KEYS).delete()
    deleted["webhook_messages"] = await SWEEP.scoped(WebhookMessage).filter(
        created_at__lt=now - WEBHOOK_MESSAGES).delete()
    deleted["webhook_excerpts"] = await SWEEP.scoped(WebhookAttempt).filter(
        created_at__lt=now - WEBHOOK_EXCERPTS).exclude(response_excerpt="").update(
        response_excerpt="")
    deleted["ai_generations"] = await SWEEP.scoped(AiGeneration).filter(
        created_at__lt=now - AI_GENERATIONS).delete()
    deleted["ai_generations_interrupted"] = await SWEEP.scoped(AiGeneration).filter(
        status__in=[AiStatus.PENDING, AiStatus.STREAMING],
        created_at__lt=now - AI_STALE).update(
        status=AiStatus.FAILED, error_code="UNAVAILABLE", credits_charged=0, finished_at=now,
        error_message="The AI call was interrupted before it finished; nothing was charged.")
    deleted["client_events"] = await SWEEP.scoped(ClientEvent).filter(
        created_at__lt=now - CLIENT_EVENTS).delete()
    oldest_day = (now - USAGE_AGGREGATES).date()
    deleted["usage_days"] = await SWEEP.scoped(UsageDay).filter(day__lt=oldest_day).delete()
    deleted["usage_operation_days"] = await SWEEP.scoped(UsageOperationDay).filter(
        day__lt=oldest_day).delete()
    deleted["support_tickets"] = await _resolved_tickets(services, now)
    deleted["privacy_request_exports"] = await forget_expired_exports(services, now)
    privacy = SWEEP.scoped(PrivacyRequest)
    deleted["unverified_privacy_requests"] = await privacy.filter(
        status=PrivacyRequestStatus.PENDING_VERIFICATION,
        verify_expires_at__lt=now - UNVERIFIED_PRIVACY_REQUESTS).delete()
    deleted["closed_privacy_requests"] = await privacy.filter(
        status__in=[PrivacyRequestStatus.COMPLETED, PrivacyRequestStatus.REJECTED],
        completed_at__lt=now - CLOSED_PRIVACY_REQUESTS).delete()
    deleted["scheduled_work"] = await ScheduledWork.filter(
        status__in=[WorkStatus.DONE, WorkStatus.FAILED, WorkStatus.CANCELED],
        updated_at__lt=now - FINISHED_WORK, archive_key__isnull=True).delete()
    return RetentionReport(deleted)
