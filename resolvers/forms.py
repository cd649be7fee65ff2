"""Lead forms as an organization manages them: creating, changing, pausing and deleting forms,
listing their submissions, and releasing or discarding held ones.

The public side (showing a form, taking what people send) is `resolvers/form_intake.py`.

A form always asks for an email, required: it is how a submission finds the person's existing
lead, how a double opt-in reaches them, and how the person's data rights (export, erasure) find
their submissions. Everything typed is checked with the rules of `core/validation.py`; origins
and URLs are parsed, normalised and bounded here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tortoise.queryset import QuerySet

from billing.limits import ensure_within_limit
from core.errors import Conflict
from core.validation import Checks, blank, hides_characters
from engine.context import Context
from engine.keyset import Order
from models.forms import (
    ConsentReceipt,
    FormField,
    FormStatus,
    FormSubmission,
    LeadForm,
    SubmissionStatus,
)
from realtime.outbox import in_transaction
from resolvers.activity import record
from resolvers.custom_domains import verified_origins
from resolvers.form_intake import accept, take_confirmation

NAME_MAX = 100
MAX_ORIGINS = 10
ORIGIN_MAX = 255
URL_MAX = 2048
CONSENT_MAX = 2_000
SUCCESS_MAX = 1_000
PAGE_TITLE_MAX = 200
PAGE_INTRO_MAX = 1_000
MAX_FIELDS = len(FormField)
ACCENT = re.compile(r"^#[0-9a-fA-F]{6}$")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
SUBMISSION_ORDER = Order("created_at", descending=True, is_datetime=True)
FORM_ORDER = ("-created_at", "-id")



@dataclass
class PageContent:
    title: str | None = None
    intro: str | None = None
    logo_url: str | None = None
    accent_color: str | None = None


def clean_origin(check: Checks, field: str, value: str) -> str | None:
    """`https://host[:port]` in lower case (http only for localhost), nothing after it."""
    text = value.strip()
    if hides_characters(text) or len(text) > ORIGIN_MAX:
        check.add(field, f"each must be an origin of at most {ORIGIN_MAX} characters, such as "
                         "https://www.example.com")
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    host = (parts.hostname or "") if parts else ""
    if (parts is None or parts.scheme not in ("https", "http") or not host or parts.username
            or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment
            or text.endswith("#") or text.endswith("?")):
        check.add(field, f"`{text[:80]}` is not an origin: give scheme and host only, such as "
                         "https://www.example.com")
        return None
    shown_host = f"[{host}]" if ":" in host else host
    if parts.scheme == "http" and shown_host not in LOCAL_HOSTS:
        check.add(field, f"`{text[:80]}`: only https, except for localhost")
        return None
    return f"{parts.scheme}://{shown_host}" + (f":{port}" if port else "")


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if not host or parts.scheme not in ("https", "http"):
        return None
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}" + \
        (f":{port}" if port else "")


def clean_url(check: Checks, field: str, value: str | None, *,
              https_only: bool = True) -> str | None:
    if value is None or blank(value):
        return None
    text = value.strip()
    if hides_characters(text) or any(c.isspace() for c in text):
        check.add(field, "must be a URL without spaces or invisible characters")
        return None
    if len(text) > URL_MAX:
        check.add(field, f"must be at most {URL_MAX:,} characters")
        return None
    origin = origin_of(text)
    if origin is None or (https_only and not text.startswith("https://")):
        check.add(field, "must be an https:// URL" if https_only else "must be an http(s) URL")
        return None
    return text


def clean_fields(check: Checks, items: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """The fields asked, each once, in the order given; the email always, and required."""
    asked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, required in items:
        if name in seen:
            check.add("fields", f"`{name}` is given twice")
            continue
        seen.add(name)
        asked.append({"name": FormField(name).value, "required": bool(required)})
    email = next((item for item in asked if item["name"] == FormField.EMAIL.value), None)
    if email is None or not email["required"]:
        check.add("fields", "must ask for the email, required: it is how a submission finds "
                            "the person's lead, reaches them for double opt-in and answers "
                            "their data requests")
    return asked


async def _redirect_origins(ctx: Context, org_id: uuid.UUID, allowed: list[str]) -> set[str]:
    """Where a form's redirect may go: its allowed origins and the org's verified domains."""
    return set(allowed) | await verified_origins(ctx, org_id)


async def validate_form(ctx: Context, org_id: uuid.UUID, data: dict[str, Any], *,
                        current: LeadForm | None) -> dict[str, Any]:
    """The columns to write for the fields given in `data` (absent ones stay as they are), or
    one BAD_USER_INPUT naming every bad field. The rules across fields (consent required needs
    a text, the redirect needs one of the origins) read the form as it will be."""
    check = Checks()
    values: dict[str, Any] = {}
    if "name" in data:
        if check.not_null("name", data["name"]) is not None:
            values["name"] = check.name("name", data["name"], max_length=NAME_MAX)
    if "fields" in data:
        if check.not_null("fields", data["fields"]) is not None:
            values["fields_asked"] = clean_fields(check, data["fields"])
    if "allowed_origins" in data:
        origins: list[str] = []
        for value in data["allowed_origins"] or []:
            origin = clean_origin(check, "allowedOrigins", value)
            if origin and origin not in origins:
                origins.append(origin)
        values["allowed_origins"] = origins
    if "consent_text" in data:
        text = data["consent_text"]
        values["consent_text"] = None if text is None or blank(text) else \
            check.multiline("consentText", text, max_length=CONSENT_MAX)
    for key, field in (("consent_required", "consentRequired"), ("double_opt_in", "doubleOptIn")):
        if key in data:
            if check.not_null(field, data[key]) is not None:
                values[key] = bool(data[key])
    if "success_message" in data:
        text = data["success_message"]
        values["success_message"] = None if text is None or blank(text) else \
            check.multiline("successMessage", text, max_length=SUCCESS_MAX)
    if "redirect_url" in data:
        values["redirect_url"] = clean_url(check, "redirectUrl", data["redirect_url"],
                                           https_only=False)
    if "page" in data:
        page: PageContent = data["page"] or PageContent()
        values["page_title"] = check.text("page.title", page.title, max_length=PAGE_TITLE_MAX)
        values["page_intro"] = None if page.intro is None or blank(page.intro) else \
            check.multiline("page.intro", page.intro, max_length=PAGE_INTRO_MAX)
        values["logo_url"] = clean_url(check, "page.logoUrl", page.logo_url)
        color = None if page.accent_color is None or blank(page.accent_color) \
            else page.accent_color.strip()
        if color is not None and not ACCENT.match(color):
            check.add("page.accentColor", "must be a colour as #rrggbb, e.g. #1a73e8")
        values["accent_color"] = color.lower() if color else None

    def final(column: str, default: Any = None) -> Any:
        if column in values:
            return values[column]
        return getattr(current, column) if current is not None else default

    if final("consent_required", False) and not final("consent_text"):
        check.add("consentRequired", "needs a consentText to show")
    redirect = final("redirect_url")
    if redirect and ("redirect_url" in values or "allowed_origins" in values) \
            and "allowedOrigins" not in check.problems:
        allowed = await _redirect_origins(ctx, org_id, final("allowed_origins", []) or [])
        if origin_of(redirect) not in allowed:
            check.add("redirectUrl", "must be on one of the form's allowedOrigins or one of "
                                     "the organization's verified custom domains")
    check.raise_problems()
    return values


async def create_form(ctx: Context, org_id: uuid.UUID, data: dict[str, Any]) -> LeadForm:
    values = await validate_form(ctx, org_id, data, current=None)
    async with in_transaction():
        await ensure_within_limit(ctx, org_id, "lead_forms")
        form = await LeadForm.create(organization_id=org_id, created_by_id=ctx.user.id,
                                     **values)
        await record(ctx, org_id, "lead_form.created", target_type="lead_form",
                     target_id=form.id, summary={"name": form.name})
    return form


async def get_form(ctx: Context, form_id: uuid.UUID) -> LeadForm:
    """A form whose org passed its permission check, or NOT_FOUND."""
    return await ctx.row(LeadForm, form_id, what="lead form")


SUMMARY_NAMES = {"fields_asked": "fields", "allowed_origins": "allowedOrigins",
                 "consent_text": "consentText", "consent_required": "consentRequired",
                 "double_opt_in": "doubleOptIn", "success_message": "successMessage",
                 "redirect_url": "redirectUrl", "page_title": "page", "page_intro": "page",
                 "logo_url": "page", "accent_color": "page", "name": "name"}


async def update_form(ctx: Context, form_id: uuid.UUID, data: dict[str, Any]) -> LeadForm:
    form = await get_form(ctx, form_id)
    values = await validate_form(ctx, form.organization_id, data, current=form)
    changed = [column for column, value in values.items() if getattr(form, column) != value]
    if not changed:
        return form
    for column in changed:
        setattr(form, column, values[column])
    async with in_transaction():
        await form.save(update_fields=[*changed, "updated_at"])
        await record(ctx, form.organization_id, "lead_form.updated", target_type="lead_form",
                     target_id=form.id,
                     summary={"fields": sorted({SUMMARY_NAMES[c] for c in changed})})
    return form


async def set_form_status(ctx: Context, form_id: uuid.UUID, status: FormStatus) -> LeadForm:
    """Pause or resume a form; setting the status it has changes nothing."""
    form = await get_form(ctx, form_id)
    if form.status is status:
        return form
    form.status = status
    async with in_transaction():
        await form.save(update_fields=["status", "updated_at"])
        await record(ctx, form.organization_id,
                     "lead_form.paused" if status is FormStatus.PAUSED else "lead_form.resumed",
                     target_type="lead_form", target_id=form.id)
    return form


async def delete_form(ctx: Context, form_id: uuid.UUID) -> uuid.UUID:
    """Delete a form and its submissions. The leads it made stay, and so do their consent
    receipts (they copy the form's name and the text shown)."""
    form = await get_form(ctx, form_id)
    async with in_transaction():
        await ctx.access.scoped(FormSubmission, form.organization_id) \
            .filter(form_id=form.id).delete()
        await ctx.access.scoped(LeadForm, form.organization_id).filter(id=form.id).delete()
        await record(ctx, form.organization_id, "lead_form.deleted", target_type="lead_form",
                     target_id=form.id, summary={"name": form.name})
    return form.id


def forms_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[LeadForm]:
    return ctx.access.scoped(LeadForm, org_id).order_by(*FORM_ORDER)


def submissions_query(ctx: Context, form: LeadForm,
                      statuses: list[SubmissionStatus] | None) -> QuerySet[FormSubmission]:
    query = ctx.access.scoped(FormSubmission, form.organization_id).filter(form_id=form.id)
    if statuses:
        query = query.filter(status__in=statuses)
    return query


def receipts_query(ctx: Context, org_id: uuid.UUID, lead_id: uuid.UUID
                   ) -> QuerySet[ConsentReceipt]:
    return ctx.access.scoped(ConsentReceipt, org_id).filter(lead_id=lead_id) \
        .order_by("-created_at", "-id")


async def get_submission(ctx: Context, submission_id: uuid.UUID) -> FormSubmission:
    return await ctx.row(FormSubmission, submission_id, what="form submission")


RELEASABLE = (SubmissionStatus.HELD, SubmissionStatus.SPAM)
DISCARDABLE = (SubmissionStatus.HELD, SubmissionStatus.SPAM, SubmissionStatus.PENDING)


def _refuse(submission: FormSubmission, allowed: tuple[SubmissionStatus, ...],
            verb: str) -> None:
    if submission.status not in allowed:
        names = " or ".join(s.name for s in allowed)
        raise Conflict(f"Only a {names} submission can be {verb}; this one is "
                       f"{submission.status.name}.", reason="SUBMISSION_DECIDED",
                       status=submission.status.name)


async def release_submission(ctx: Context, submission_id: uuid.UUID) -> FormSubmission:
    """Accept a HELD or SPAM submission: it makes or merges its lead with its receipt, as an
    accepted submission does (PLAN_LIMIT when the plan has no room for the lead). On a double
    opt-in form a submission never confirmed is not accepted by anyone but the person: it goes
    PENDING and the confirmation link is mailed, as on a first submission."""
    submission = await get_submission(ctx, submission_id)
    _refuse(submission, RELEASABLE, "released")
    org_id = submission.organization_id
    form = await ctx.access.scoped(LeadForm, org_id).get(id=submission.form_id)
    now = datetime.now(UTC)
    confirm = form.double_opt_in and submission.confirmed_at is None
    mail: Callable[[], Awaitable[None]] | None = None
    async with in_transaction():
        taken = await ctx.access.scoped(FormSubmission, org_id).filter(
            id=submission.id, status=submission.status).update(
            status=SubmissionStatus.PENDING if confirm else SubmissionStatus.ACCEPTED,
            decided_at=now)
        if not taken:
            raise Conflict("This submission was decided meanwhile.",
                           reason="SUBMISSION_DECIDED")
        previous = submission.status
        submission.status = SubmissionStatus.PENDING if confirm else SubmissionStatus.ACCEPTED
        submission.decided_at = now
        if confirm:
            mail = await take_confirmation(ctx.services, form, submission)
        else:
            await accept(ctx.services, form, submission, hold_over_limit=False)
        await record(ctx, org_id, "form_submission.released", target_type="form_submission",
                     target_id=submission.id, summary={"form": str(form.id),
                                                       "from": previous.value})
    if mail is not None:
        ctx.after_response(mail, event="forms.confirmation_mail_failed",
                           submission=str(submission.id))
    return submission


async def discard_submission(ctx: Context, submission_id: uuid.UUID) -> FormSubmission:
    """Throw away a HELD, SPAM or PENDING submission (a pending one's link stops working). Its
    values are dropped at once: a discarded submission keeps only when and why."""
    submission = await get_submission(ctx, submission_id)
    _refuse(submission, DISCARDABLE, "discarded")
    org_id = submission.organization_id
    now = datetime.now(UTC)
    async with in_transaction():
        taken = await ctx.access.scoped(FormSubmission, org_id).filter(
            id=submission.id, status=submission.status).update(
            status=SubmissionStatus.DISCARDED, decided_at=now, values={}, email=None,
            confirm_token_hash=None, origin=None, user_agent=None)
        if not taken:
            raise Conflict("This submission was decided meanwhile.",
                           reason="SUBMISSION_DECIDED")
        await record(ctx, org_id, "form_submission.discarded", target_type="form_submission",
                     target_id=submission.id, summary={"form": str(submission.form_id)})
    return await get_submission(ctx, submission_id)



