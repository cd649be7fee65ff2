"""Organization API tokens: the credential a partner app or script uses to act in one org.

A token belongs to one organization and carries a set of scopes (permission names from
`auth/permissions.py`); it never acts as the person who created it. Only the SHA-256 hash of its
secret is stored (see `auth/api_tokens.py`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Self

from tortoise import fields
from tortoise.queryset import QuerySet, UpdateQuery

from models.orgs import Organization
from models.tenancy import TenantModel, before_org_known

if TYPE_CHECKING:
    from models.accounts import User


class ApiToken(TenantModel):
    """A named credential of one organization with its scopes. Revoked tokens are kept for the
    activity log that names them."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="api_tokens", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="api_tokens", null=True, on_delete=fields.SET_NULL
    )
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    last_used_ip = fields.CharField(max_length=64, null=True)
    created_by_id: uuid.UUID | None

    class Meta:
        table = "api_tokens"
        indexes = (("organization_id", "created_at"),)

    @classmethod
    def by_hash(cls, token_hash: str) -> QuerySet[Self]:
        """The token whose secret hashes to `token_hash`: how a request authenticates, before
        any organization is known. The hash names one row, of whichever org owns it."""
        return before_org_known(cls, reason="authenticate an API token", token_hash=token_hash)

    @classmethod
    def touch(cls, token_id: uuid.UUID, *, at: datetime, ip: str) -> UpdateQuery:
        """Record a use (time and IP) of one token, found by the id authentication gave."""
        return before_org_known(
            cls, reason="record an API token's use", id=token_id).update(
            last_used_at=at, last_used_ip=ip)
