"""Policy versions a user accepted, and the notices mailed when a new version came out.

The version in force comes from configuration (`TERMS_VERSION`), not from the database: a new
policy ships with a deployment. `User.terms_version` holds the latest version a user accepted
(read on every `me`), these rows the dated history behind it.
"""

from __future__ import annotations

import uuid

from tortoise import fields

from models.accounts import User
from models.base import BaseModel


class PolicyAcceptance(BaseModel):
    """A user accepted one version of the terms and privacy policy at `created_at` (at sign-up
    or through acceptPolicy). Rows are only ever added."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="policy_acceptances", on_delete=fields.CASCADE
    )
    version = fields.CharField(max_length=32)
    user_id: uuid.UUID

    class Meta:
        table = "policy_acceptances"
        indexes = (("user_id", "created_at"),)


class PolicyNotice(BaseModel):
    """The email telling a user about a new policy version: one row per user and version, so
    each user is told once. `claimed_at` is when a sweep last took it on, `sent_at` when the
    mail went out (null: being sent, or the sender died and a later sweep retries it)."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="policy_notices", on_delete=fields.CASCADE
    )
    version = fields.CharField(max_length=32)
    claimed_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    user_id: uuid.UUID

    class Meta:
        table = "policy_notices"
        unique_together = (("user", "version"),)
