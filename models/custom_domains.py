"""Custom domains: a hostname an organization proves it controls, on which its public form pages
are served (`web/sites.py`).

The tenant creates a TXT record at `_relleks-challenge.<hostname>` holding the row's
verification token and a CNAME from the hostname to `CUSTOM_DOMAIN_TARGET`; checks (a job with
backoff while PENDING, daily once VERIFIED, or `checkCustomDomain`) read both and keep what they
saw on the row. docs/custom-domains.md describes the whole.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

from tortoise import fields
from tortoise.queryset import QuerySet

from models.orgs import Organization
from models.tenancy import TenantModel, before_org_known

if TYPE_CHECKING:
    from models.accounts import User

CHALLENGE_LABEL = "_relleks-challenge"
"""The label under the hostname where the TXT record with the token lives."""


class DomainStatus(StrEnum):
    """Where a domain stands. PENDING until a check sees its records (VERIFIED) or 72 hours of
    checks never did (FAILED). A VERIFIED domain whose records are gone is LAPSED: it stops
    serving at once, so a hostname left pointing at us cannot be taken over."""

    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"
    LAPSED = "lapsed"


class CheckVerdict(StrEnum):
    """What one check concluded from what it saw."""

    VERIFIED = "verified"
    TOKEN_MISSING = "token_missing"
    TOKEN_MISMATCH = "token_mismatch"
    TARGET_MISSING = "target_missing"
    TARGET_MISMATCH = "target_mismatch"
    DNS_ERROR = "dns_error"
    CLAIMED_ELSEWHERE = "claimed_elsewhere"


class CustomDomain(TenantModel):
    """A hostname of one organization, its proof token, its status and its last check
    (expected and observed records, the resolver asked, the verdict and when)."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="custom_domains", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="custom_domains", null=True, on_delete=fields.SET_NULL
    )
    hostname = fields.CharField(max_length=253, db_index=True)
    """Lower case, IDNA (A-labels), no trailing dot."""
    served_hostname = fields.CharField(max_length=253, null=True, unique=True)
    """The hostname while VERIFIED, else null: the one indexed key by which a request's Host and
    the TLS `ask` find the org; unique, so one hostname serves one org."""
    verification_token = fields.CharField(max_length=64)
    status = fields.CharEnumField(DomainStatus, max_length=16, default=DomainStatus.PENDING)
    pending_since = fields.DatetimeField()
    """When its current round of pending checks began (added, or checked again by hand)."""
    pending_checks = fields.IntField(default=0)
    """Scheduled checks made in that round: the step of the backoff."""
    next_check_at = fields.DatetimeField(null=True)
    """When the sweep queues its next check; null: no check is scheduled (FAILED, LAPSED)."""
    verified_at = fields.DatetimeField(null=True)
    confirmed_at = fields.DatetimeField(null=True)
    """The last check that saw the records."""
    lapsed_at = fields.DatetimeField(null=True)
    checked_at = fields.DatetimeField(null=True)
    verdict = fields.CharEnumField(CheckVerdict, max_length=24, null=True)
    expected_records: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    observed_records: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    resolver = fields.CharField(max_length=255, null=True)
    """The nameservers the last check asked (`host:port`, comma-separated)."""
    created_by_id: uuid.UUID | None

    lookup_keys = ("hostname",)

    class Meta:
        table = "custom_domains"
        unique_together = (("organization_id", "hostname"),)
        indexes = (("status", "next_check_at"), ("organization_id", "created_at"))

    @classmethod
    def by_host(cls, hostname: str) -> QuerySet[Self]:
        """The rows naming `hostname`, in whichever orgs: how a request's Host finds its site,
        before any org is known (one indexed lookup)."""
        return before_org_known(cls, reason="route a request by its Host", hostname=hostname)

    @classmethod
    def serving(cls, hostname: str) -> QuerySet[Self]:
        """The VERIFIED row serving `hostname`, if any (the unique `served_hostname`)."""
        return before_org_known(cls, reason="find the org a verified hostname serves",
                                served_hostname=hostname)

    @property
    def challenge_name(self) -> str:
        return f"{CHALLENGE_LABEL}.{self.hostname}"

    def due(self, now: datetime) -> bool:
        return self.next_check_at is not None and self.next_check_at <= now
