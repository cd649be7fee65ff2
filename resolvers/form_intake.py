"""Taking a public form submission: checking what was typed, storing it, and turning an accepted
one into a lead (or a note on the person's existing lead), with its consent receipt.

There is no request context here: the public pages (`web/`) call these functions with the
long-lived `Services`, and tenant rows are read through a system scope of the form's own
organization (`intake_scope`). The form itself is found by its public id before its organization
is known (`form_by_public_id`).

    form = await form_by_public_id(public_id)
    values, problems = validate_values(form, raw)
    if not problems:
        await take_submission(services, form, values, status=SubmissionStatus.ACCEPTED,
                              signals=[], meta=SubmissionMeta(origin, user_agent, ip, True))

What becomes of a submission (`take_submission`):

- ACCEPTED with double opt-in: PENDING, and a confirmation link (`PUBLIC_URL/f/confirm/{token}`)
  is mailed to the address; only the token's SHA-256 is stored. Opening it
  (`confirm_submission`) accepts it.
- ACCEPTED: a lead with source FORM (the `message` as its first note), or, when the org has a
  lead with that email, a note on the oldest such lead (nothing overwritten); when that
  person's processing is restricted, only the submission is stored (signal `restricted`). A
  consent receipt, the activity event (the form is its actor) and the realtime `leadEvents`
  come with it.
- Over the plan's monthly submissions or its leads: HELD (signal `plan_limit`) instead.
- HELD and SPAM: only stored.

Everything one submission writes is in one transaction; the mail goes after it commits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from billing.limits import ensure_within_limit, over_limit
from core.errors import Conflict
from core.settings import Settings
from core.validation import Checks
from keystore.fields import blind_index
from mail import messages
from models.forms import (
    ConsentReceipt,
    FormField,
    FormStatus,
    FormSubmission,
    LeadForm,
    SubmissionStatus,
)
from models.leads import Lead, LeadSource
from models.orgs import Organization
from models.tenancy import SystemScope, system_scope
from observability.metrics import count_form_submission
from realtime.outbox import in_transaction
from resolvers.activity import write_event
from resolvers.leads import EventWriter, insert_lead
from resolvers.notes import insert_note

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.forms")

TEXT_MAX = 200
"""Name, company and title: as long as the lead columns they fill."""
MESSAGE_MAX = 5_000
RAW_MAX = 20_000
"""A raw value longer than this is refused before it is looked at."""
CONFIRM_TTL = timedelta(hours=48)
"""How long a double opt-in link works."""
CONFIRM_PREFIX = "rlk_fc_"
PUBLIC_ID_MAX = 32
MAX_SIGNALS = 20
"""The most reasons kept on one submission (each up to 100 characters)."""
CONSENT_YES = frozenset({"on", "true", "yes", "1", "checked"})

REQUIRED = "is required"
CONSENT_MISSING = "must be accepted to send the form"

SIGNAL_PLAN_LIMIT = "plan_limit"
"""The plan's submissions per month (or leads) are used up: held until released."""
SIGNAL_RESTRICTED = "restricted"
"""The person's processing is restricted: stored, not merged, no lead."""


@dataclass
class SubmissionMeta:
    """Where a submission came from. `ip` is raw: only its keyed hash is stored."""

    origin: str | None
    user_agent: str | None
    ip: str | None
    consent_shown: bool
    """Whether the person was shown the form's consent text (the hosted page shows it; a
    tenant's own page posting JSON says whether it did)."""


def hash_ip(settings: Settings, ip: str | None) -> str | None:
    """HMAC-SHA-256 of an IP with the server's secret: a later complaint about one address can
    be matched by recomputing it, while the stored value gives no address back (a plain hash of
    the 2^32 IPv4 addresses is reversed in seconds)."""
    if not ip:
        return None
    return hmac.new(settings.secret_key.encode(), b"form-ip:" + ip.strip().encode(),
                    hashlib.sha256).hexdigest()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def confirm_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/f/confirm/{token}"


def intake_scope(org_id: uuid.UUID) -> SystemScope:
    return system_scope(org_id, reason="a public form submission to this organization")


async def form_by_public_id(public_id: str) -> LeadForm | None:
    """The form a public URL names (paused ones too: the page says so), with its organization
    loaded; None for anything else."""
    if not isinstance(public_id, str) or not 0 < len(public_id) <= PUBLIC_ID_MAX:
        return None
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in public_id):
        return None
    return await LeadForm.by_public_id(public_id).select_related("organization").first()


def _region(form: LeadForm, region: str | None) -> str:
    if region:
        return region
    org = form.__dict__.get("_organization")
    if isinstance(org, Organization):
        return org.default_region
    return "US"


def validate_values(form: LeadForm, raw: Mapping[str, Any], *, region: str | None = None
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """The cleaned values of the fields the form asks (by `FormField` name; blank optional ones
    left out) and the problems, by field name, with the same rules as the API's lead fields
    (`core/validation.py`): names and text without control or invisible characters, the email
    normalised, the phone as E.164 (in `region`, by default the organization's). When the
    form requires consent, `consent` must be ticked (`on`, `true`, `yes`, `1`, or JSON's
    `true`); a ticked box
    is kept as `consent: "yes"`. Keys the form does not ask are ignored."""
    check = Checks()
    values: dict[str, str] = {}
    for field, required in form.asked.items():
        value = raw.get(field.value)
        if value is not None and not isinstance(value, str):
            check.add(field.value, "must be text")
            continue
        if value is not None and len(value) > RAW_MAX:
            check.add(field.value, f"must be at most {RAW_MAX:,} characters")
            continue
        if value is None or not value.strip():
            if required:
                check.add(field.value, REQUIRED)
            continue
        cleaned: str | None
        if field is FormField.EMAIL:
            cleaned = check.email(field.value, value)
        elif field is FormField.PHONE:
            cleaned = check.phone(field.value, value, region=_region(form, region))
        elif field is FormField.MESSAGE:
            cleaned = check.multiline(field.value, value, max_length=MESSAGE_MAX)
        elif field is FormField.NAME:
            cleaned = check.name(field.value, value, max_length=TEXT_MAX)
        else:
            cleaned = check.text(field.value, value, max_length=TEXT_MAX)
        if cleaned:
            values[field.value] = cleaned
    consent = raw.get("consent")
    ticked = consent is True or (isinstance(consent, str)
                                 and consent.strip().lower() in CONSENT_YES)
    if ticked:
        values["consent"] = "yes"
    elif form.consent_required:
        check.add("consent", CONSENT_MISSING)
    return values, check.problems


async def take_submission(services: Services, form: LeadForm, values: Mapping[str, str], *,
                          status: SubmissionStatus, signals: Iterable[str],
                          meta: SubmissionMeta,
                          defer: Callable[[Callable[[], Awaitable[None]]], None] | None = None,
                          ) -> FormSubmission:
    """Store one submission and do what its status calls for (see the module's docstring).
    `values` are `validate_values`' cleaned ones. `status` is what the caller's checks decided:
    ACCEPTED, HELD or SPAM (PENDING and DISCARDED are this module's and the org's to give).
    `defer`, when given, runs the confirmation mail later (after the response); by default it
    is sent before this returns. CONFLICT (reason FORM_PAUSED) for a paused form."""
    if form.status is not FormStatus.ACTIVE:
        raise Conflict("This form is paused: it takes no submissions.", reason="FORM_PAUSED")
    if status not in (SubmissionStatus.ACCEPTED, SubmissionStatus.HELD, SubmissionStatus.SPAM):
        raise ValueError(f"a new submission is ACCEPTED, HELD or SPAM, not {status}")
    settings = services.settings
    fields = dict(values)
    consent_given = fields.pop("consent", None) == "yes"
    reasons = [str(s)[:100] for s in signals][:MAX_SIGNALS - 2]  # room for ours (two at most)
    send: Callable[[], Awaitable[None]] | None = None
    async with in_transaction():
        if status is SubmissionStatus.ACCEPTED and await over_limit(
                form.organization_id, "form_submissions_per_month"):
            status, reasons = SubmissionStatus.HELD, [*reasons, SIGNAL_PLAN_LIMIT]
        pending = status is SubmissionStatus.ACCEPTED and form.double_opt_in
        submission = await FormSubmission.create(
            organization_id=form.organization_id, form_id=form.id, values=fields,
            email=fields.get(FormField.EMAIL.value),
            status=SubmissionStatus.PENDING if pending else status, signals=reasons,
            origin=(meta.origin or None) and meta.origin[:255],
            user_agent=(meta.user_agent or None) and meta.user_agent[:512],
            ip_hash=hash_ip(settings, meta.ip), consent_given=consent_given,
            consent_text=form.consent_text if meta.consent_shown else None)
        if pending:
            send = await take_confirmation(services, form, submission)
        elif submission.status is SubmissionStatus.ACCEPTED:
            await accept(services, form, submission, hold_over_limit=True)
    count_form_submission(submission.status.value)
    if send is not None:
        if defer is not None:
            defer(send)
        else:
            await send()
    return submission


async def take_confirmation(services: Services, form: LeadForm, submission: FormSubmission
                            ) -> Callable[[], Awaitable[None]]:
    """Give a PENDING submission its confirmation link, inside the caller's transaction: only
    the token's hash and expiry are stored, and the function returned mails the link (call it
    once the transaction has committed; a failure is logged, never raised)."""
    token = CONFIRM_PREFIX + secrets.token_urlsafe(32)
    await _update(intake_scope(submission.organization_id), submission,
                  confirm_token_hash=hash_token(token),
                  confirm_expires_at=datetime.now(UTC) + CONFIRM_TTL)
    org = await Organization.get(id=form.organization_id)
    address = submission.email
    mail = messages.form_confirmation_mail(
        to=address or "", form=form.name, organization=org.name,
        url=confirm_url(services.settings, token), ttl=CONFIRM_TTL)
    submission_id = str(submission.id)

    async def send() -> None:
        if not address:
            return
        try:
            await services.mailer.send(mail)
        except Exception:
            log.exception("forms.confirmation_mail_failed", submission=submission_id)

    return send


async def confirm_submission(services: Services, token: str, *,
                             ip: str | None) -> FormSubmission | None:
    """Accept the PENDING submission a double opt-in link names (the link works once): the lead
    is made or merged now, and the receipt records the confirmation's time and IP hash. None
    for an unknown, expired or used link."""
    if not isinstance(token, str) or not token.startswith(CONFIRM_PREFIX) or len(token) > 100:
        return None
    found = await FormSubmission.by_confirm_hash(hash_token(token)).first()
    now = datetime.now(UTC)
    if found is None or found.status is not SubmissionStatus.PENDING:
        return None
    if found.confirm_expires_at is None or found.confirm_expires_at <= now:
        return None
    scope = intake_scope(found.organization_id)
    async with in_transaction():
        # One confirmation wins: the update names the status it expects.
        taken = await scope.scoped(FormSubmission).filter(
            id=found.id, status=SubmissionStatus.PENDING).update(
            status=SubmissionStatus.ACCEPTED, confirmed_at=now,
            confirm_ip_hash=hash_ip(services.settings, ip), confirm_token_hash=None)
        if not taken:
            return None
        submission = await scope.scoped(FormSubmission).get(id=found.id)
        form = await scope.scoped(LeadForm).get(id=submission.form_id)
        await accept(services, form, submission, hold_over_limit=True)
    return submission


def _note_body(form: LeadForm, values: Mapping[str, str], *, merged: bool) -> str:
    """What a submission adds to a lead as a note: on a known lead every value sent (nothing of
    the lead is overwritten), on a new one only the message."""
    lines = [f"Sent through the form {form.name!r}."] if merged else []
    if merged:
        for field in FormField:
            if field is not FormField.MESSAGE and values.get(field.value):
                lines.append(f"{field.value.title()}: {values[field.value]}")
    message = values.get(FormField.MESSAGE.value)
    if message:
        lines += (["", message] if merged else [message])
    return "\n".join(lines)


async def accept(services: Services, form: LeadForm, submission: FormSubmission, *,
                 hold_over_limit: bool) -> None:
    """Make the accepted `submission`'s lead (or its note on the person's lead) and its consent
    receipt, inside the caller's transaction. Over the plan's leads: held (signal
    `plan_limit`) when `hold_over_limit`, else PLAN_LIMIT (a person releasing it sees why)."""
    org_id = submission.organization_id
    scope = intake_scope(org_id)
    values = submission.values or {}
    event = _event_writer(services, org_id, form.id, submission.user_agent)
    email = submission.email
    index = await blind_index(org_id, "email", email) if email else None
    known = list(await scope.scoped(Lead).filter(email_bidx=index).order_by("created_at", "id")) \
        if index else []
    lead: Lead | None = None
    if any(row.restricted for row in known):
        await _update(scope, submission, signals=[*submission.signals, SIGNAL_RESTRICTED])
    elif known:
        lead = known[0]
        await insert_note(lead, _note_body(form, values, merged=True), author_id=None, log=event)
    else:
        exceeded = await over_limit(org_id, "leads")
        if exceeded is not None:
            if not hold_over_limit:
                await ensure_within_limit(None, org_id, "leads")
            await _update(scope, submission, status=SubmissionStatus.HELD,
                          signals=[*submission.signals, SIGNAL_PLAN_LIMIT])
            return
        columns = {column: values[column] for column in ("email", "phone", "company", "title")
                   if values.get(column)}
        columns["name"] = values.get("name") or email or "Unknown"
        lead = await insert_lead(org_id, columns, tags=[], source=LeadSource.FORM, log=event)
        body = _note_body(form, values, merged=False)
        if body:
            await insert_note(lead, body, author_id=None, log=event)
    if lead is not None:
        await _update(scope, submission, lead_id=lead.id)
    await _receipt(services.settings, form, submission, lead)


async def _update(scope: SystemScope, submission: FormSubmission, **changes: Any) -> None:
    await scope.scoped(FormSubmission).filter(id=submission.id).update(**changes)
    for name, value in changes.items():
        setattr(submission, name, value)


async def _receipt(settings: Settings, form: LeadForm, submission: FormSubmission,
                   lead: Lead | None) -> ConsentReceipt:
    text = submission.consent_text
    return await ConsentReceipt.create(
        organization_id=submission.organization_id, lead_id=lead.id if lead else None,
        submission_id=submission.id, form_id=form.id, form_name=form.name,
        email=submission.email, consent_text=text,
        consent_text_sha256=sha256_text(text) if text is not None else None,
        consent_given=submission.consent_given, policy_version=settings.terms_version,
        submitted_at=submission.created_at, origin=submission.origin,
        user_agent=submission.user_agent, ip_hash=submission.ip_hash,
        confirmed_at=submission.confirmed_at, confirm_ip_hash=submission.confirm_ip_hash)


def _event_writer(services: Services, org_id: uuid.UUID, form_id: uuid.UUID,
                  user_agent: str | None) -> EventWriter:
    """`write_event` with the form as the actor. The sender's IP stays out of the log (its
    keyed hash is on the submission)."""
    async def write(action: str, **kwargs: Any) -> Any:
        return await write_event(services.broker, org_id, action, form_id=form_id,
                                 user_agent=user_agent, jobs=services.jobs, **kwargs)
    return write
