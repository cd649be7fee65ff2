"""Data-rights requests from the people in an organization's CRM, made on its public privacy
page (`web/privacy_requests.py`): access to, or erasure of, what the org holds about an email.

A request starts PENDING_VERIFICATION: only the hash of the mailed link's token is stored, and
nothing reaches the organization until the link is opened (then OPEN, with its legal deadline
`due_at`, 30 days from verification). An ADMIN answers it in one click: the export or the
erasure runs and the request is COMPLETED, or it is REJECTED with a reason mailed to the
requester. The email is encrypted at rest and found by its blind index (docs/encryption.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from tortoise import fields
from tortoise.queryset import QuerySet

from keystore.fields import BlindIndexField, Encrypted, EncryptedTextField
from models.orgs import Organization
from models.tenancy import TenantModel, before_org_known


class PrivacyRequestKind(StrEnum):
    """What the person asks for."""

    ACCESS = "access"
    ERASURE = "erasure"


class PrivacyRequestStatus(StrEnum):
    """Where a request stands."""

    PENDING_VERIFICATION = "pending_verification"
    OPEN = "open"
    COMPLETED = "completed"
    REJECTED = "rejected"


class PrivacyRequest(Encrypted, TenantModel):
    """One request of a person to an organization about the data held on their email."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="privacy_requests", on_delete=fields.CASCADE
    )
    email = EncryptedTextField()
    """The requester's normalised email (encrypted)."""
    email_bidx = BlindIndexField("email", "email")
    kind = fields.CharEnumField(PrivacyRequestKind, max_length=16)
    message = EncryptedTextField(null=True)
    """What the person wrote with the request, if anything (encrypted)."""
    status = fields.CharEnumField(PrivacyRequestStatus, max_length=24,
                                  default=PrivacyRequestStatus.PENDING_VERIFICATION)
    verify_token_hash = fields.CharField(max_length=64, unique=True, null=True)
    """SHA-256 of the verification link's token (the token is only in the mail), until used."""
    verify_expires_at = fields.DatetimeField()
    ip_hash = fields.CharField(max_length=64, null=True)
    """HMAC-SHA-256 of the sender's IP with a server key, never the IP."""
    verified_at = fields.DatetimeField(null=True)
    due_at = fields.DatetimeField(null=True)
    """The legal deadline: 30 days from verification."""
    completed_at = fields.DatetimeField(null=True)
    """When it was COMPLETED or REJECTED."""
    reject_reason = EncryptedTextField(null=True)
    overdue_notified_at = fields.DatetimeField(null=True)
    """When the OWNERs were mailed that it is past its deadline (once)."""
    export_key = fields.CharField(max_length=128, null=True)
    """ACCESS: where the copy handed to the requester is stored, until it expires."""
    download_token_hash = fields.CharField(max_length=64, unique=True, null=True)
    download_expires_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "privacy_requests"
        indexes = (("organization_id", "status", "created_at"), ("status", "due_at"))

    @classmethod
    def by_verify_hash(cls, token_hash: str) -> QuerySet[Self]:
        """The request a verification link names, before its organization is known."""
        return before_org_known(cls, reason="a privacy request's verification link",
                                verify_token_hash=token_hash)

    @classmethod
    def by_download_hash(cls, token_hash: str) -> QuerySet[Self]:
        """The request an export download link names, before its organization is known."""
        return before_org_known(cls, reason="a privacy request's export download link",
                                download_token_hash=token_hash)

