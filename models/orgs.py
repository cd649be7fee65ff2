"""Organizations (the tenants), their members and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Self

from tortoise import fields
from tortoise.queryset import QuerySet

from models.base import BaseModel
from models.tenancy import TenantModel, before_org_known


class Role(StrEnum):
    """Roles from most to least powerful. What each may do is in `auth/permissions.py`."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return {"owner": 4, "admin": 3, "member": 2, "viewer": 1}[self.value]


class Organization(BaseModel):
    """A tenant: a team working its leads together. Its slug is unique and URL-safe."""

    name = fields.CharField(max_length=120)
    slug = fields.CharField(max_length=48, unique=True)
    default_region = fields.CharField(max_length=2, default="US", db_default="US")
    ai_enabled = fields.BooleanField(default=False, db_default=False)
    """AI features on (`setOrganizationAiEnabled`, OWNER or ADMIN): off until turned on."""
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "organizations"

    @classmethod
    async def lock(cls, org_id: uuid.UUID) -> None:
        """Lock the organization's row until the transaction ends (FOR NO KEY UPDATE, which
        leaves rows referencing it free to be written; nothing on SQLite, which runs one
        transaction at a time). Whatever decides on a role in the org (changing or removing a
        member, handing over ownership, inviting, minting a token, approving an app) takes
        this lock first and reads the roles it decides on after it, so those decisions run
        one after another (see `auth.access.Access.require_now`)."""
        await cls.filter(id=org_id).select_for_update(no_key=True).only("id")


class Membership(TenantModel):
    """A user's place in an organization, with their role."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="memberships", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(Role, max_length=16)
    user_id: uuid.UUID

    lookup_keys = ("user_id",)

    class Meta:
        table = "memberships"
        unique_together = (("organization", "user"),)

    @classmethod
    def of_user(cls, user_id: uuid.UUID) -> QuerySet[Self]:
        """The memberships of one user across orgs: the other sanctioned entry point, used by
        access control to learn which orgs the caller belongs to."""
        return before_org_known(cls, reason="a person's own memberships", user_id=user_id)


class Invitation(TenantModel):
    """An emailed invitation to join an organization. The token is stored only as a hash."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="invitations", on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=320)
    role = fields.CharEnumField(Role, max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    invited_by: fields.ForeignKeyNullableRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="invitations_sent", null=True, on_delete=fields.SET_NULL
    )
    expires_at = fields.DatetimeField()
    accepted_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    invited_by_id: uuid.UUID | None

    class Meta:
        table = "invitations"
        indexes = (("organization_id", "email"),)

    @classmethod
    async def by_token_hash(cls, token_hash: str) -> Self | None:
        """The invitation a token opens. The secret token is the authority here, so this
        is the one lookup of an invitation that no org membership precedes."""
        return await before_org_known(cls, reason="open an invitation link",
                                      token_hash=token_hash).first()

    @classmethod
    async def claim(cls, invitation_id: uuid.UUID, now: datetime) -> bool:
        """Mark the invitation accepted, unless someone else just did (single use)."""
        claimed = await before_org_known(cls, reason="accept an invitation", id=invitation_id) \
            .filter(accepted_at__isnull=True, revoked_at__isnull=True).update(accepted_at=now)
        return bool(claimed)
