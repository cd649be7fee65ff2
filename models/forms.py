"""Public lead capture: an organization's lead forms, what people submit through them, and the
consent receipts kept for the submissions that became leads.

A form is reached from the public web by its `public_id` alone (never its primary key): the
only row a public request finds before it knows the organization (`before_org_known`). A
submission keeps what was sent, why it was held or taken for spam, and a keyed hash of the
sender's IP, never the IP itself. A consent receipt is the proof (GDPR article 7) of what the
person was shown and agreed to: it copies the text, so a later edit of the form changes no
receipt.
"""

from __future__ import annotations

import secrets
import uuid
from enum import StrEnum
from typing import Any, Self

from tortoise import fields
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from keystore.fields import BlindIndexField, Encrypted, EncryptedJSONField, EncryptedTextField
from models.base import BaseModel
from models.leads import Lead
from models.orgs import Organization
from models.tenancy import Rows, TenantModel, before_org_known


class FormStatus(StrEnum):
    """Whether a form takes submissions."""

    ACTIVE = "active"
    PAUSED = "paused"


class SubmissionStatus(StrEnum):
    """What became of a submission. Only ACCEPTED ones make (or merge into) leads."""

    ACCEPTED = "accepted"
    """Taken: a lead was made or the existing lead got a note (unless the person's processing
    is restricted: then it is only stored)."""
    HELD = "held"
    """Stored for review (no solved challenge, or over a plan limit): `releaseSubmission`."""
    SPAM = "spam"
    """Failed a check; deleted by the retention sweep after 30 days."""
    PENDING = "pending"
    """Double opt-in: waiting for the person to open the mailed confirmation link."""
    DISCARDED = "discarded"
    """Thrown away by the organization (`discardSubmission`)."""


class FormField(StrEnum):
    """The lead fields a form may ask for; each maps to the `Lead` column of that name, except
    `message`, which becomes a note on the lead."""

    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    COMPANY = "company"
    TITLE = "title"
    MESSAGE = "message"


def new_public_id() -> str:
    """16 URL-safe characters (96 random bits): unguessable, so a form's URL cannot be found
    by trying."""
    return secrets.token_urlsafe(12)


def _not_about_restricted(query: QuerySet[Any], rows: Rows) -> QuerySet[Any]:
    """Rows neither linked to a restricted lead nor carrying the email of one (a restricted
    person's later submission is stored unlinked). Written with IS NULL alternatives: NOT IN
    over a NULL column would drop the row."""
    restricted = rows(Lead).filter(restricted=True)
    return query.filter(
        Q(lead_id__isnull=True) | Q(lead_id__not_in=Subquery(restricted.values("id"))),
        Q(email_bidx__isnull=True) | Q(email_bidx__not_in=Subquery(
            rows(Lead).filter(restricted=True, email_bidx__isnull=False).values("email_bidx"))))


class LeadForm(TenantModel):
    """A public form whose submissions become leads of its organization."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="lead_forms", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="lead_forms", null=True, on_delete=fields.SET_NULL
    )
    public_id = fields.CharField(max_length=32, unique=True, default=new_public_id)
    """The only id in public URLs (`/f/{public_id}`)."""
    name = fields.CharField(max_length=100)
    fields_asked: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    """The lead fields asked, in order: `[{"name": "email", "required": true}, ...]`."""
    allowed_origins: fields.JSONField[list[str]] = fields.JSONField(default=list)
    """Origins (`https://www.example.com`) whose pages may embed the form or post to it."""
    consent_text = fields.TextField(null=True)
    consent_required = fields.BooleanField(default=False)
    double_opt_in = fields.BooleanField(default=False)
    success_message = fields.TextField(null=True)
    redirect_url = fields.CharField(max_length=2048, null=True)
    """Where the browser goes after a submission, on one of `allowed_origins`."""
    page_title = fields.CharField(max_length=200, null=True)
    page_intro = fields.TextField(null=True)
    logo_url = fields.CharField(max_length=2048, null=True)
    accent_color = fields.CharField(max_length=7, null=True)
    """`#rrggbb`."""
    status = fields.CharEnumField(FormStatus, max_length=16, default=FormStatus.ACTIVE)
    updated_at = fields.DatetimeField(auto_now=True)
    created_by_id: uuid.UUID | None

    class Meta:
        table = "lead_forms"
        indexes = (("organization_id", "created_at"),)

    @property
    def asked(self) -> dict[FormField, bool]:
        """The fields asked, in order, each with whether it is required."""
        return {FormField(item["name"]): bool(item.get("required"))
                for item in self.fields_asked or []}

    @classmethod
    def by_public_id(cls, public_id: str) -> QuerySet[Self]:
        """The form a public URL names, before its organization is known."""
        return before_org_known(cls, reason="a public form request names its form",
                                public_id=public_id)


class FormSubmission(Encrypted, TenantModel):
    """One submission of a form, whatever became of it (see `SubmissionStatus`). Its email's
    blind index (`email_bidx`) finds it beside a restricted lead's (docs/encryption.md)."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="form_submissions", on_delete=fields.CASCADE
    )
    form: fields.ForeignKeyRelation[LeadForm] = fields.ForeignKeyField(
        "relleks.LeadForm", related_name="submissions", on_delete=fields.CASCADE
    )
    values: fields.JSONField[dict[str, str]] = EncryptedJSONField(default=dict)
    """The cleaned values, by `FormField` name (encrypted)."""
    email = EncryptedTextField(null=True)
    """The normalised email of the values, to find a person's submissions (data rights)."""
    email_bidx = BlindIndexField("email", "email")
    status = fields.CharEnumField(SubmissionStatus, max_length=16)
    signals: fields.JSONField[list[str]] = fields.JSONField(default=list)
    """Why it is SPAM or HELD (or was taken without a lead), e.g. `honeypot`, `no_challenge`."""
    origin = fields.CharField(max_length=255, null=True)
    user_agent = fields.CharField(max_length=512, null=True)
    ip_hash = fields.CharField(max_length=64, null=True)
    """HMAC-SHA-256 of the client IP with a server key: matches a later complaint about one
    address without keeping addresses."""
    consent_given = fields.BooleanField(default=False)
    consent_text = fields.TextField(null=True)
    """The consent text shown when it was sent (the form's may change since)."""
    lead: fields.ForeignKeyNullableRelation[Lead] = fields.ForeignKeyField(
        "relleks.Lead", related_name="form_submissions", null=True, on_delete=fields.SET_NULL
    )
    confirm_token_hash = fields.CharField(max_length=64, unique=True, null=True)
    """SHA-256 of the double opt-in link's token; the token itself is only in the mail."""
    confirm_expires_at = fields.DatetimeField(null=True)
    confirmed_at = fields.DatetimeField(null=True)
    confirm_ip_hash = fields.CharField(max_length=64, null=True)
    decided_at = fields.DatetimeField(null=True)
    """When it was released or discarded."""
    form_id: uuid.UUID
    lead_id: uuid.UUID | None

    class Meta:
        table = "form_submissions"
        indexes = (("form_id", "created_at"), ("organization_id", "email"),
                   ("organization_id", "status", "created_at"))

    @classmethod
    def without_restricted(cls, query: QuerySet[Self], rows: Rows) -> QuerySet[Self]:
        """What a restricted person sent is hidden with their lead (see `Lead.restricted`)."""
        return _not_about_restricted(query, rows)

    @classmethod
    def by_confirm_hash(cls, token_hash: str) -> QuerySet[Self]:
        """The submission a double opt-in link confirms, before its organization is known."""
        return before_org_known(cls, reason="a double opt-in link names its submission",
                                confirm_token_hash=token_hash)


class ConsentReceipt(Encrypted, TenantModel):
    """The proof of one consent given through a form: the exact text shown and its SHA-256,
    the policy version in force, when, from which origin and user agent, a keyed hash of the
    IP, and for double opt-in when and from which (hashed) IP it was confirmed."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="consent_receipts", on_delete=fields.CASCADE
    )
    lead: fields.ForeignKeyNullableRelation[Lead] = fields.ForeignKeyField(
        "relleks.Lead", related_name="consent_receipts", null=True, on_delete=fields.CASCADE
    )
    submission: fields.ForeignKeyNullableRelation[FormSubmission] = fields.ForeignKeyField(
        "relleks.FormSubmission", related_name="receipts", null=True, on_delete=fields.SET_NULL
    )
    form: fields.ForeignKeyNullableRelation[LeadForm] = fields.ForeignKeyField(
        "relleks.LeadForm", related_name="receipts", null=True, on_delete=fields.SET_NULL
    )
    form_name = fields.CharField(max_length=100)
    email = EncryptedTextField(null=True)
    email_bidx = BlindIndexField("email", "email")
    """The email's blind index, to leave out receipts about a restricted lead."""
    consent_text = EncryptedTextField(null=True)
    """Null: the form showed no consent text (encrypted)."""
    consent_text_sha256 = fields.CharField(max_length=64, null=True)
    consent_given = fields.BooleanField(default=False)
    policy_version = fields.CharField(max_length=32)
    submitted_at = fields.DatetimeField()
    origin = fields.CharField(max_length=255, null=True)
    user_agent = fields.CharField(max_length=512, null=True)
    ip_hash = fields.CharField(max_length=64, null=True)
    confirmed_at = fields.DatetimeField(null=True)
    confirm_ip_hash = fields.CharField(max_length=64, null=True)
    lead_id: uuid.UUID | None
    submission_id: uuid.UUID | None
    form_id: uuid.UUID | None

    @classmethod
    def without_restricted(cls, query: QuerySet[Self], rows: Rows) -> QuerySet[Self]:
        """A restricted person's receipts are hidden with their lead."""
        return _not_about_restricted(query, rows)

    class Meta:
        table = "consent_receipts"
        indexes = (("lead_id", "created_at"), ("organization_id", "email"))
