"""Social sign-in: identities at Google or GitHub linked to a user, and links waiting for the
user to confirm them.

A provider names a person by a subject id that never changes (Google's `sub`, GitHub's numeric
user id), while their email may. So an identity is found by (provider, subject), and the email is
kept only to show which account is linked.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields

from models.accounts import User
from models.base import BaseModel


class SocialProvider(StrEnum):
    GOOGLE = "google"
    GITHUB = "github"

    @property
    def label(self) -> str:
        """The provider's name as people write it, e.g. in `Sign in with GitHub`."""
        return {"google": "Google", "github": "GitHub"}[self.value]


class SocialIdentity(BaseModel):
    """An account at a provider that signs in as a user, at most one per provider and user.
    `created_at` is when it was linked."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="social_identities", on_delete=fields.CASCADE
    )
    provider = fields.CharEnumField(SocialProvider, max_length=16)
    subject = fields.CharField(max_length=255)
    email = fields.CharField(max_length=320)
    last_used_at = fields.DatetimeField(null=True)
    user_id: uuid.UUID

    class Meta:
        table = "social_identities"
        unique_together = (("provider", "subject"), ("user_id", "provider"))


class SocialLinkRequest(BaseModel):
    """A provider identity whose verified email matches an existing user, waiting for that user
    to prove the account is theirs: with their password (`token_hash`, the token handed to the
    browser that signed in) or through the emailed link (`mail_token_hash`). Either works once,
    before `expires_at`."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="social_link_requests", on_delete=fields.CASCADE
    )
    provider = fields.CharEnumField(SocialProvider, max_length=16)
    subject = fields.CharField(max_length=255)
    email = fields.CharField(max_length=320)
    token_hash = fields.CharField(max_length=64, unique=True)
    mail_token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    user_id: uuid.UUID

    class Meta:
        table = "social_link_requests"
