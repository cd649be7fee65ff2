"""AI generations (issue 20): one row per call of an AI feature on a lead, with its output and
its provenance (which provider and model, which prompt version, a hash of the exact input, the
list of fields sent, tokens, credits and latency).

The row is written PENDING by the mutation, moves to STREAMING when the first text arrives and
ends SUCCEEDED or FAILED (`resolvers/ai.py`). It belongs to the lead: deleting the lead (or
erasing the person) deletes its generations. docs/ai.md describes the whole.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

from tortoise import fields
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from keystore.fields import Encrypted, EncryptedJSONField, EncryptedTextField
from models.leads import Lead
from models.orgs import Organization
from models.tenancy import Rows, TenantModel

if TYPE_CHECKING:
    from models.accounts import User


class AiFeature(StrEnum):
    """What was asked for."""

    SUMMARY = "summary"
    NEXT_STEPS = "next_steps"
    DRAFT_EMAIL = "draft_email"


class AiStatus(StrEnum):
    """Where a generation stands."""

    PENDING = "pending"
    STREAMING = "streaming"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = frozenset({AiStatus.SUCCEEDED, AiStatus.FAILED})


class AiGeneration(Encrypted, TenantModel):
    """One call of an AI feature about one lead, its output and its provenance.

    The purpose and the outputs are encrypted under the org's data key (docs/encryption.md),
    the hash, manifest and counters are not."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="ai_generations", on_delete=fields.CASCADE
    )
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "relleks.Lead", related_name="ai_generations", on_delete=fields.CASCADE
    )
    requested_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="ai_generations", null=True, on_delete=fields.SET_NULL
    )
    api_token_id = fields.UUIDField(null=True)
    """The API token that asked, if one did (the person is then the token's creator)."""
    feature = fields.CharEnumField(AiFeature, max_length=16)
    status = fields.CharEnumField(AiStatus, max_length=16, default=AiStatus.PENDING)
    purpose = EncryptedTextField(null=True)
    """draft_email: the purpose as sent (masked), at most 500 characters."""
    output_text = EncryptedTextField(default="")
    output_json: fields.JSONField[Any] = EncryptedJSONField(null=True)
    """next_steps: the parsed steps, a list of objects with action and reason."""
    error_code = fields.CharField(max_length=32, null=True)
    error_message = fields.CharField(max_length=300, null=True)
    provider = fields.CharField(max_length=32, default="")
    model = fields.CharField(max_length=100, default="")
    prompt_version = fields.CharField(max_length=32, default="")
    input_hash = fields.CharField(max_length=64, default="")
    """SHA-256 (hex) of the exact messages sent."""
    data_manifest: fields.JSONField[list[str]] = fields.JSONField(default=list)
    """The field names sent, e.g. lead.name or note.body times 3 (never their values)."""
    input_tokens = fields.IntField(default=0)
    output_tokens = fields.IntField(default=0)
    credits_charged = fields.IntField(default=0)
    latency_ms = fields.IntField(null=True)
    finished_at = fields.DatetimeField(null=True)
    lead_id: uuid.UUID
    requested_by_id: uuid.UUID | None

    class Meta:
        table = "ai_generations"
        indexes = (("lead_id", "created_at", "id"), ("organization_id", "created_at", "id"),
                   ("status", "created_at"))

    @classmethod
    def without_restricted(cls, query: QuerySet[Self], rows: Rows) -> QuerySet[Self]:
        """Generations about restricted leads left out, like their notes."""
        return query.filter(lead_id__not_in=Subquery(
            rows(Lead).filter(restricted=True).values("id")))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def elapsed_ms(self, now: datetime) -> int:
        return max(0, int((now - self.created_at).total_seconds() * 1000))
