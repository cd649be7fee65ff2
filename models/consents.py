"""Consents: what a user allowed Relleks to do with their data, as an append-only history.

Every change is a new dated row, never an update, so the state at any past moment can be shown
(what GDPR article 7 asks: being able to demonstrate consent). The current state of a kind is
its latest row, and a kind with no row is refused, which makes every consent opt-in.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields

from models.accounts import User
from models.base import BaseModel


class ConsentKind(StrEnum):
    """What a consent allows."""

    AI_TRAINING = "ai_training"
    """Use of the user's data, and of the data of their organizations they contributed, to
    train or improve AI models."""
    PRODUCT_EMAILS = "product_emails"
    """Emails about new features and offers (policy and security notices are sent regardless)."""


class Consent(BaseModel):
    """One change of one consent of one user: granted or withdrawn at `created_at`, under the
    policy version then in force. Rows are only ever added."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="consents", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(ConsentKind, max_length=32)
    granted = fields.BooleanField()
    policy_version = fields.CharField(max_length=32)
    user_id: uuid.UUID

    class Meta:
        table = "consents"
        indexes = (("user_id", "kind", "created_at"),)
