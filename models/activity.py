"""The activity log: an append-only record of every change to an organization's data."""

from __future__ import annotations

import uuid

from tortoise import fields

from models.base import BaseModel
from models.orgs import Organization
from models.tenancy import TenantModel


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
    action = fields.CharField(max_length=64)
    target_type = fields.CharField(max_length=32)
    target_id = fields.UUIDField(null=True)
    summary = fields.JSONField(default=dict)
    ip = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=512, null=True)
    actor_id: uuid.UUID | None
    api_token_id: uuid.UUID | None
    oauth_grant_id: uuid.UUID | None

    class Meta:
        table = "activity_events"
        indexes = (("organization_id", "created_at"),)
