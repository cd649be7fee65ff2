"""Webhooks: an organization's endpoints, the messages recorded for them and each delivery
attempt.

A message is written in the transaction of the change it describes (`resolvers.webhook_outbox`,
called by `resolvers.activity.write_event`), one per endpoint that wants its event type, so a
committed change always has its messages and a rolled-back one never does. Jobs deliver them
(`jobs.webhooks`). docs/webhooks.md describes the whole.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from keystore.fields import Encrypted, EncryptedTextField
from models.orgs import Organization
from models.tenancy import TenantModel

if TYPE_CHECKING:
    from models.accounts import User


class WebhookEventType(StrEnum):
    """The events an endpoint may ask for: the lead, note and membership changes the realtime
    subscriptions carry, and the public form submissions."""

    LEAD_CREATED = "lead.created"
    LEAD_UPDATED = "lead.updated"
    LEAD_STATUS_CHANGED = "lead.status_changed"
    LEAD_ASSIGNED = "lead.assigned"
    LEAD_DELETED = "lead.deleted"
    LEADS_IMPORTED = "leads.imported"
    NOTE_ADDED = "note.added"
    NOTE_UPDATED = "note.updated"
    NOTE_DELETED = "note.deleted"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    MEMBER_LEFT = "member.left"
    INVITATION_CREATED = "invitation.created"
    INVITATION_REVOKED = "invitation.revoked"
    FORM_SUBMISSION_RECEIVED = "form_submission.received"
    FORM_SUBMISSION_RELEASED = "form_submission.released"
    FORM_SUBMISSION_DISCARDED = "form_submission.discarded"


class DisabledReason(StrEnum):
    """Why an endpoint is off."""

    MANUAL = "manual"
    GONE = "gone"
    FAILING = "failing"


class MessageStatus(StrEnum):
    """Where a message stands: PENDING until an attempt gets a 2xx (DELIVERED) or the retry
    schedule runs out (FAILED)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class AttemptError(StrEnum):
    """Why an attempt failed, beside a non-2xx status."""

    STATUS = "status"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    REFUSED_TARGET = "refused_target"


class WebhookEndpoint(Encrypted, TenantModel):
    """A URL of one organization to which its events are posted, signed with its secret (and
    the previous one for 24 hours after a rotation). Secrets are stored sealed with a key derived
    from SECRET_KEY, that sealed value encrypted under the org's data key (so shredding the org
    ends them too), and shown only when created or rotated."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="webhook_endpoints", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: uuid.UUID | None
    url = fields.CharField(max_length=2048)
    description = fields.CharField(max_length=500, default="")
    event_types: fields.JSONField[list[str]] = fields.JSONField(default=list)
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharEnumField(DisabledReason, max_length=16, null=True)
    disabled_at = fields.DatetimeField(null=True)
    secret_sealed = EncryptedTextField()
    previous_secret_sealed = EncryptedTextField(null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    failing_since = fields.DatetimeField(null=True)
    """The first failed attempt since the last success: after WEBHOOK_DISABLE_AFTER, off."""
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_endpoints"


class WebhookMessage(TenantModel):
    """One event for one endpoint: its thin payload (type, global ids, time, changed field
    names: never personal data) and where its delivery stands."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="webhook_messages", on_delete=fields.CASCADE
    )
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "relleks.WebhookEndpoint", related_name="messages", on_delete=fields.CASCADE
    )
    endpoint_id: uuid.UUID
    event_type = fields.CharField(max_length=64)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    status = fields.CharEnumField(MessageStatus, max_length=16, default=MessageStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True, db_index=True)
    """When it is due; null once DELIVERED or FAILED."""
    dispatched_at = fields.DatetimeField(null=True)
    """When a job was last queued for it (the sweep re-queues after JOBS_LEASE)."""
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "webhook_messages"


class WebhookAttempt(TenantModel):
    """One try at delivering a message: when, the answer's status, how long it took, the first
    bytes of the answer (at most 1 KiB) and why it failed."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="webhook_attempts", on_delete=fields.CASCADE
    )
    message: fields.ForeignKeyRelation[WebhookMessage] = fields.ForeignKeyField(
        "relleks.WebhookMessage", related_name="delivery_attempts", on_delete=fields.CASCADE
    )
    message_id: uuid.UUID
    status_code = fields.IntField(null=True)
    latency_ms = fields.IntField(default=0)
    response_excerpt = fields.CharField(max_length=1024, default="")
    error = fields.CharEnumField(AttemptError, max_length=16, null=True)
    success = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "webhook_attempts"
