"""Data-rights requests from the people in an organization's CRM (`models/privacy_requests.py`):
taken on the org's public privacy page (`web/privacy_requests.py`), verified by a mailed link,
then answered by an ADMIN in one click with the existing export or erasure
(`resolvers.data_subjects`), or rejected with a reason; the sweep mails the OWNERs once about
a request past its deadline (`flag_overdue`).

The page answers the same whatever the email: nothing here says whether the org holds anything
about it. A request is taken only when the page's bot checks all pass (`auth/form_defences.py`),
and at most EMAIL_MAILS verification mails go to one address per hour, whatever the org, so the
page cannot be used to flood someone's mailbox.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import structlog
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from tortoise.queryset import QuerySet

from core.errors import Conflict, NotFound
from core.validation import Checks, validate
from engine.context import Context
from mail import messages
from models.accounts import User
from models.orgs import Membership, Organization, Role
from models.privacy_requests import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus
from models.tenancy import EVERY_ORG, system_scope
from observability.metrics import observe_privacy_request_closed
from realtime.outbox import in_transaction
from resolvers.activity import record
from resolvers.data_subjects import (
    erase_data_subject,
    export_data_subject,
    fingerprint,
    subject_counts,
)
from services import Services

log = structlog.get_logger("relleks.privacy_requests")

VERIFY_TTL = timedelta(hours=48)
DEADLINE = timedelta(days=30)
"""The legal deadline (GDPR article 12(3): one month), from verification."""
VERIFY_PREFIX = "rlk_pv_"
DOWNLOAD_PREFIX = "rlk_pd_"
TOKEN_MAX = 100
MESSAGE_MAX = 2_000
REASON_MAX = 2_000
SLUG_MAX = 48
EMAIL_RAW_MAX = 320
EMAIL_MAILS = parse("3/hour")
"""Verification mails to one address per hour (every org together)."""
SOURCE = "public"
"""The `source` label of PRIVACY_REQUEST_CLOSE_SECONDS for requests made on the public page."""
KIND_WORDS = {PrivacyRequestKind.ACCESS: "access to a copy",
              PrivacyRequestKind.ERASURE: "erasure"}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_ip(secret_key: str, ip: str | None) -> str | None:
    if not ip:
        return None
    return hmac.new(secret_key.encode(), b"privacy-ip:" + ip.strip().encode(),
                    hashlib.sha256).hexdigest()


def verify_url(services: Services, token: str) -> str:
    return f"{services.settings.public_url.rstrip('/')}/p/verify/{token}"


def download_url(services: Services, token: str) -> str:
    return f"{services.settings.public_url.rstrip('/')}/p/download/{token}"


def export_key_of(request_id: uuid.UUID) -> str:
    """Where an access request's copy is stored (deterministic: a retry overwrites it)."""
    return f"privacy-exports/{request_id}.json"


async def org_by_slug(slug: str) -> Organization | None:
    """The organization whose privacy page a public URL names; None for anything else."""
    if not isinstance(slug, str) or not 0 < len(slug) <= SLUG_MAX:
        return None
    if not all(c.isascii() and (c.isalnum() or c == "-") for c in slug):
        return None
    return await Organization.filter(slug=slug).first()


@dataclass(frozen=True)
class Asked:
    """A request as the page's validation cleaned it."""

    email: str
    kind: PrivacyRequestKind
    message: str | None


def validate_request(raw: dict[str, str]) -> tuple[Asked | None, dict[str, str]]:
    """The cleaned request and the problems by field (`email`, `kind`, `message`), with the
    API's rules (`core/validation.py`)."""
    check = Checks()
    email = raw.get("email", "")
    if len(email) > EMAIL_RAW_MAX:
        check.add("email", "is not a valid email address")
    elif not email.strip():
        check.add("email", "is required")
    else:
        email = check.email("email", email)
    kind_text = raw.get("kind", "").strip().lower()
    if kind_text not in {k.value for k in PrivacyRequestKind}:
        check.add("kind", "choose access or erasure")
    message = raw.get("message") or ""
    cleaned: str | None = None
    if len(message) > MESSAGE_MAX:
        check.add("message", f"must be at most {MESSAGE_MAX:,} characters")
    elif message.strip():
        cleaned = check.multiline("message", message, max_length=MESSAGE_MAX)
    if check.problems:
        return None, dict(check.problems)
    return Asked(email=email, kind=PrivacyRequestKind(kind_text), message=cleaned), {}


async def take_request(services: Services, org: Organization, asked: Asked, *,
                       ip: str | None) -> Callable[[], Awaitable[None]] | None:
    """Store a PENDING_VERIFICATION request and return the function that mails its link (call
    it after the response); None when the address had its EMAIL_MAILS already (nothing is
    stored: the answer is the same)."""
    limiter = MovingWindowRateLimiter(services.limiter.storage)
    # Counted under a keyed hash of the address: the limits' storage never holds an email.
    index = hmac.new(services.settings.secret_key.encode(), b"privacy-mail:"
                     + asked.email.encode(), hashlib.sha256).hexdigest()
    if not await limiter.hit(EMAIL_MAILS, f"privacy:email:{index}"):
        log.info("privacy_requests.mail_limited", organization=str(org.id))
        return None
    token = VERIFY_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    request = await PrivacyRequest.create(
        organization_id=org.id, email=asked.email, kind=asked.kind, message=asked.message,
        verify_token_hash=hash_token(token), verify_expires_at=now + VERIFY_TTL,
        ip_hash=hash_ip(services.settings.secret_key, ip))
    mail = messages.privacy_request_verify_mail(
        to=asked.email, organization=org.name, kind=KIND_WORDS[asked.kind],
        url=verify_url(services, token), ttl=VERIFY_TTL)
    request_id = str(request.id)

    async def send() -> None:
        try:
            await services.mailer.send(mail)
        except Exception:
            log.exception("privacy_requests.verify_mail_failed", request=request_id)

    return send


async def verify_request(token: str) -> PrivacyRequest | None:
    """Open the request a verification link names (it works once, until it expires): OPEN,
    with its deadline. None for an unknown, used or expired link."""
    if not isinstance(token, str) or not token.startswith(VERIFY_PREFIX) \
            or len(token) > TOKEN_MAX:
        return None
    found = await PrivacyRequest.by_verify_hash(hash_token(token)).first()
    now = datetime.now(UTC)
    if found is None or found.status is not PrivacyRequestStatus.PENDING_VERIFICATION:
        return None
    if found.verify_expires_at <= now:
        return None
    scope = system_scope(found.organization_id,
                         reason="a privacy request's verification link was opened")
    taken = await scope.scoped(PrivacyRequest).filter(
        id=found.id, status=PrivacyRequestStatus.PENDING_VERIFICATION).update(
        status=PrivacyRequestStatus.OPEN, verified_at=now, due_at=now + DEADLINE,
        verify_token_hash=None)
    return found if taken else None


def requests_query(ctx: Context, org_id: uuid.UUID,
                   status: PrivacyRequestStatus | None) -> QuerySet[PrivacyRequest]:
    """The org's verified requests (unverified ones never show), oldest deadline first."""
    query = ctx.access.scoped(PrivacyRequest, org_id).exclude(
        status=PrivacyRequestStatus.PENDING_VERIFICATION)
    if status is not None:
        query = query.filter(status=status)
    return query.order_by("due_at", "id")


HOLDINGS_KEY = "_relleks_holdings"
"""Where `holdings_of_page` leaves each row's counts for its `holdings` field."""


async def holdings_of_page(ctx: Context, requests: list[PrivacyRequest]) -> None:
    """`holdings` for a whole page of one org's requests, in four statements."""
    if not requests:
        return
    counts = await subject_counts(ctx, requests[0].organization_id,
                                  [request.email for request in requests])
    for request in requests:
        request.__dict__[HOLDINGS_KEY] = counts[request.email]


async def holdings(ctx: Context, request: PrivacyRequest) -> dict[str, int]:
    """What the org holds about the request's email: counts by kind of record (from the page's
    prefetch when there was one)."""
    found = request.__dict__.get(HOLDINGS_KEY)
    if isinstance(found, dict):
        return found
    return (await subject_counts(ctx, request.organization_id, [request.email]))[request.email]


async def get_request(ctx: Context, request_id: uuid.UUID) -> PrivacyRequest:
    request = await ctx.row(PrivacyRequest, request_id, what="privacy request")
    if request.status is PrivacyRequestStatus.PENDING_VERIFICATION:
        raise NotFound("privacy request", field="id")
    return request


def _must_be_open(request: PrivacyRequest) -> None:
    if request.status is not PrivacyRequestStatus.OPEN:
        raise Conflict(f"This privacy request is {request.status.name} already.",
                       reason="PRIVACY_REQUEST_CLOSED")


async def _close(ctx: Context, request: PrivacyRequest, status: PrivacyRequestStatus,
                 action: str, *, reason: str | None = None,
                 changes: dict[str, object] | None = None) -> bool:
    """Mark an OPEN request closed (one caller wins), with its activity event; `reason` (a
    rejection's, encrypted) is saved through the instance."""
    now = datetime.now(UTC)
    async with in_transaction():
        taken = await ctx.access.scoped(PrivacyRequest, request.organization_id).filter(
            id=request.id, status=PrivacyRequestStatus.OPEN).update(
            status=status, completed_at=now, **(changes or {}))
        if not taken:
            return False
        if reason is not None:
            request.reject_reason = reason
            await request.save(update_fields=["reject_reason"])
        await record(ctx, request.organization_id, action, target_type="privacy_request",
                     target_id=request.id, summary={
                         "kind": request.kind.value,
                         "subject": fingerprint(ctx.services.settings.secret_key,
                                                request.email)})
    request.status, request.completed_at = status, now
    for name, value in (changes or {}).items():
        setattr(request, name, value)
    if status is PrivacyRequestStatus.COMPLETED and request.verified_at is not None:
        observe_privacy_request_closed(SOURCE, (now - request.verified_at).total_seconds())
    return True


async def complete_request(ctx: Context, request_id: uuid.UUID) -> PrivacyRequest:
    """Carry out an OPEN request: the export (stored, its link mailed to the requester) or the
    erasure (its confirmation mailed); COMPLETED once the work is done. CONFLICT when it is
    closed already."""
    request = await get_request(ctx, request_id)
    _must_be_open(request)
    org_id, services = request.organization_id, ctx.services
    org = await Organization.get(id=org_id)
    mail: messages.Mail
    changes: dict[str, object] = {}
    if request.kind is PrivacyRequestKind.ACCESS:
        document = await export_data_subject(ctx, org_id, request.email)
        key = export_key_of(request.id)
        await services.storage.save(key, orjson.dumps(document, option=orjson.OPT_INDENT_2),
                                    "application/json")
        token = DOWNLOAD_PREFIX + secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + timedelta(hours=services.settings.export_ttl_hours)
        changes = {"export_key": key, "download_token_hash": hash_token(token),
                   "download_expires_at": expires}
        mail = messages.privacy_export_mail(to=request.email, organization=org.name,
                                            url=download_url(services, token),
                                            expires_at=expires)
    else:
        await erase_data_subject(ctx, org_id, request.email)
        mail = messages.privacy_erased_mail(to=request.email, organization=org.name)
    if not await _close(ctx, request, PrivacyRequestStatus.COMPLETED,
                        "privacy_request.completed", changes=changes):
        raise Conflict("This privacy request was answered meanwhile.",
                       reason="PRIVACY_REQUEST_CLOSED")
    try:
        await services.mailer.send(mail)
    except Exception:
        log.exception("privacy_requests.answer_mail_failed", request=str(request.id))
    return request


async def reject_request(ctx: Context, request_id: uuid.UUID, reason: str) -> PrivacyRequest:
    """Turn an OPEN request down; the reason is mailed to the requester. CONFLICT when it is
    closed already."""
    with validate() as check:
        text = check.multiline("reason", reason, max_length=REASON_MAX)
        if not (text or "").strip():
            check.add("reason", "is required")
    request = await get_request(ctx, request_id)
    _must_be_open(request)
    if not await _close(ctx, request, PrivacyRequestStatus.REJECTED,
                        "privacy_request.rejected", reason=text or ""):
        raise Conflict("This privacy request was answered meanwhile.",
                       reason="PRIVACY_REQUEST_CLOSED")
    org = await Organization.get(id=request.organization_id)
    try:
        await ctx.services.mailer.send(messages.privacy_rejected_mail(
            to=request.email, organization=org.name, kind=request.kind.value,
            reason=text or ""))
    except Exception:
        log.exception("privacy_requests.reject_mail_failed", request=str(request.id))
    return request


async def redeem_download(services: Services, token: str) -> bytes | None:
    """The copy an export link opens, until it expires; None for anything else."""
    if not isinstance(token, str) or not token.startswith(DOWNLOAD_PREFIX) \
            or len(token) > TOKEN_MAX:
        return None
    found = await PrivacyRequest.by_download_hash(hash_token(token)).first()
    if found is None or found.export_key is None or found.download_expires_at is None \
            or found.download_expires_at <= datetime.now(UTC):
        return None
    return await services.storage.load(found.export_key)


OVERDUE = system_scope(EVERY_ORG, reason="privacy requests past their deadline, in every org")


async def flag_overdue(services: Services, *, now: datetime | None = None) -> int:
    """Mail the OWNERs of each organization once about every OPEN request past its deadline;
    the number of requests flagged. Each is claimed first (`overdue_notified_at`), so two
    sweeps at once never mail twice."""
    now = now or datetime.now(UTC)
    due = await OVERDUE.scoped(PrivacyRequest).filter(
        status=PrivacyRequestStatus.OPEN, due_at__lt=now,
        overdue_notified_at__isnull=True).order_by("due_at").limit(200)
    flagged = 0
    for request in due:
        scope = system_scope(request.organization_id,
                             reason="mail the OWNERs about an overdue privacy request")
        claimed = await scope.scoped(PrivacyRequest).filter(
            id=request.id, overdue_notified_at__isnull=True).update(overdue_notified_at=now)
        if not claimed:
            continue
        flagged += 1
        org = await Organization.get(id=request.organization_id)
        user_ids = await scope.scoped(Membership).filter(role=Role.OWNER).values_list(
            "user_id", flat=True)
        assert request.due_at is not None
        for owner in await User.filter(id__in=list(user_ids)):
            try:
                await services.mailer.send(messages.privacy_overdue_mail(
                    to=owner.email, organization_slug=org.slug,
                    kind=request.kind.value, due_at=request.due_at,
                    url=services.settings.public_url.rstrip("/") + "/graphql"))
            except Exception:
                log.exception("privacy_requests.overdue_mail_failed", request=str(request.id))
    return flagged


async def forget_expired_exports(services: Services, now: datetime) -> int:
    """Delete the stored copies of answered access requests whose link expired."""
    expired = await OVERDUE.scoped(PrivacyRequest).filter(
        export_key__isnull=False, download_expires_at__lt=now)
    for request in expired:
        assert request.export_key is not None
        await services.storage.delete(request.export_key)
        await system_scope(request.organization_id, reason="retention: an expired export copy"
                           ).scoped(PrivacyRequest).filter(id=request.id).update(
            export_key=None, download_token_hash=None)
    return len(expired)


async def forget_org_privacy_exports(services: Services, org_id: uuid.UUID) -> int:
    """Delete every stored access copy of the organization (its deletion calls this before its
    rows go, since the copies are found through them)."""
    scope = system_scope(org_id, reason="the organization's deletion: its access copies")
    keys = [str(key) for key in await scope.scoped(PrivacyRequest).filter(
        export_key__isnull=False).values_list("export_key", flat=True) if key]
    for key in keys:
        await services.storage.delete(key)
    return len(keys)
