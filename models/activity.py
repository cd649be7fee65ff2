"""The activity log: an append-only record of every change to an organization's data."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from tortoise import fields

from models.base import BaseModel
from models.orgs import Organization
from models.tenancy import TenantModel


class ActivityAction(StrEnum):
    """What an event records, as stored in `action` (`<object>.<verb>`). Every event written
    names one of these (`resolvers.activity.write_event` refuses any other)."""

    ORGANIZATION_CREATED = "organization.created"
    ORGANIZATION_UPDATED = "organization.updated"
    ORGANIZATION_EXPORT_REQUESTED = "organization.export_requested"
    ORGANIZATION_DELETION_SCHEDULED = "organization.deletion_scheduled"
    ORGANIZATION_DELETION_CANCELED = "organization.deletion_canceled"
    ORGANIZATION_RENEWAL_STOPPED = "organization.renewal_stopped"
    ORGANIZATION_RENEWAL_RESUMED = "organization.renewal_resumed"
    ORGANIZATION_OWNERSHIP_TRANSFERRED = "organization.ownership_transferred"
    ORGANIZATION_KEY_ROTATED = "organization.key_rotated"
    INVITATION_CREATED = "invitation.created"
    INVITATION_RESENT = "invitation.resent"
    INVITATION_REVOKED = "invitation.revoked"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    MEMBER_LEFT = "member.left"
    LEAD_CREATED = "lead.created"
    LEAD_UPDATED = "lead.updated"
    LEAD_STATUS_CHANGED = "lead.status_changed"
    LEAD_ASSIGNED = "lead.assigned"
    LEAD_DELETED = "lead.deleted"
    LEAD_RESTRICTED = "lead.restricted"
    LEAD_UNRESTRICTED = "lead.unrestricted"
    LEADS_IMPORTED = "leads.imported"
    LEADS_EXPORTED = "leads.exported"
    NOTE_ADDED = "note.added"
    NOTE_UPDATED = "note.updated"
    NOTE_DELETED = "note.deleted"
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"
    OAUTH_APP_AUTHORIZED = "oauth_app.authorized"
    OAUTH_APP_REVOKED = "oauth_app.revoked"
    CUSTOM_DOMAIN_ADDED = "custom_domain.added"
    CUSTOM_DOMAIN_VERIFIED = "custom_domain.verified"
    CUSTOM_DOMAIN_FAILED = "custom_domain.failed"
    CUSTOM_DOMAIN_LAPSED = "custom_domain.lapsed"
    CUSTOM_DOMAIN_REMOVED = "custom_domain.removed"
    WEBHOOK_ENDPOINT_CREATED = "webhook_endpoint.created"
    WEBHOOK_ENDPOINT_UPDATED = "webhook_endpoint.updated"
    WEBHOOK_ENDPOINT_ENABLED = "webhook_endpoint.enabled"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    WEBHOOK_ENDPOINT_DELETED = "webhook_endpoint.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook_endpoint.secret_rotated"
    BILLING_CHECKOUT_STARTED = "billing.checkout_started"
    BILLING_CHECKOUT_COMPLETED = "billing.checkout_completed"
    BILLING_PORTAL_OPENED = "billing.portal_opened"
    BILLING_SUBSCRIPTION_CREATED = "billing.subscription_created"
    BILLING_SUBSCRIPTION_UPDATED = "billing.subscription_updated"
    BILLING_SUBSCRIPTION_CANCELED = "billing.subscription_canceled"
    BILLING_INVOICE_PAID = "billing.invoice_paid"
    BILLING_PAYMENT_FAILED = "billing.payment_failed"
    BILLING_PAYMENT_METHOD_UPDATED = "billing.payment_method_updated"
    LEAD_FORM_CREATED = "lead_form.created"
    LEAD_FORM_UPDATED = "lead_form.updated"
    LEAD_FORM_PAUSED = "lead_form.paused"
    LEAD_FORM_RESUMED = "lead_form.resumed"
    LEAD_FORM_DELETED = "lead_form.deleted"
    FORM_SUBMISSION_RELEASED = "form_submission.released"
    FORM_SUBMISSION_DISCARDED = "form_submission.discarded"
    DATA_SUBJECT_EXPORTED = "data_subject.exported"
    DATA_SUBJECT_ERASED = "data_subject.erased"
    PRIVACY_REQUEST_COMPLETED = "privacy_request.completed"
    PRIVACY_REQUEST_REJECTED = "privacy_request.rejected"
    AI_ENABLED = "organization.ai_enabled"
    AI_DISABLED = "organization.ai_disabled"
    SUPPORT_ACCESS_GRANTED = "support_access.granted"
    SUPPORT_ACCESS_REVOKED = "support_access.revoked"


LEGACY_ACTIONS = {"ownership.transferred": ActivityAction.ORGANIZATION_OWNERSHIP_TRANSFERRED}
"""Stored spellings older events may hold, and the action each one is."""


def action_of(stored: str) -> ActivityAction:
    """The action a stored `action` value records (ValueError for an unknown one)."""
    legacy = LEGACY_ACTIONS.get(stored)
    return legacy if legacy is not None else ActivityAction(stored)


def stored_actions(action: ActivityAction) -> list[str]:
    """Every stored spelling of `action`, to filter on."""
    return [action.value, *(old for old, new in LEGACY_ACTIONS.items() if new is action)]


class ActivityEvent(TenantModel):
    """Who did what to which object, when and from where. Written in the same transaction as the
    change it describes, never updated or deleted through the API."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="activity", on_delete=fields.CASCADE
    )
    actor: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="activity", null=True, on_delete=fields.SET_NULL
    )
    api_token: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.ApiToken", related_name="activity", null=True, on_delete=fields.SET_NULL
    )
    """The organization API token that acted, when a token did (then `actor` is null)."""
    oauth_grant: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.OAuthGrant", related_name="activity", null=True, on_delete=fields.SET_NULL
    )
    """The OAuth grant (a partner app) that acted, when one did (then `actor` is null)."""
    form: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.LeadForm", related_name="activity", null=True, on_delete=fields.SET_NULL
    )
    """The lead form that acted, when a public submission did (then `actor` is null)."""
    action = fields.CharField(max_length=64)
    target_type = fields.CharField(max_length=32)
    target_id = fields.UUIDField(null=True)
    summary: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    ip = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=512, null=True)
    actor_id: uuid.UUID | None
    api_token_id: uuid.UUID | None
    oauth_grant_id: uuid.UUID | None
    form_id: uuid.UUID | None

    class Meta:
        table = "activity_events"
        indexes = (("organization_id", "created_at"),)
