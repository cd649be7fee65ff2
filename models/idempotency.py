"""Idempotency keys: a caller's `Idempotency-Key` header and the first response it got.

A mutation sent with the header claims a row (unique per caller and key) before it runs and
stores its response afterwards, so a retry with the same key and the same request replays that
response instead of running again (`web/idempotency.py`, docs/idempotency.md). Rows are the
caller's, not an organization's: the caller is a person, an API token or a partner app's grant.
They live 24 hours (`jobs/retention.py`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import BaseModel

if TYPE_CHECKING:
    from models.accounts import User

KEPT_FOR = timedelta(hours=24)
"""How long a key holds: a retry within it replays, a later one runs again, and the retention
sweep deletes the row after it."""


class KeyStatus(StrEnum):
    """IN_PROGRESS from the claim until the response is stored (DONE), or found too large to
    store (TOO_LARGE: the mutation ran, only its status is kept, a retry is refused)."""

    IN_PROGRESS = "in_progress"
    DONE = "done"
    TOO_LARGE = "too_large"


class IdempotencyKey(BaseModel):
    """One caller's idempotency key, a hash of the request it came with and, once done, the
    response sent (status, media type and body) to replay to a retry. `created_at` is when the
    key was claimed (or taken over), `claim` names that claim so only its holder completes it."""

    caller = fields.CharField(max_length=64)
    """Who holds the key: `user:<id>`, `token:<id>` (an API token) or `grant:<id>` (an OAuth
    grant)."""
    key = fields.CharField(max_length=255)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="idempotency_keys", null=True, on_delete=fields.CASCADE
    )
    """The person, when the caller is one: deleting the account deletes their keys."""
    request_hash = fields.CharField(max_length=64)
    claim = fields.UUIDField(default=uuid.uuid4)
    status = fields.CharEnumField(KeyStatus, max_length=16, default=KeyStatus.IN_PROGRESS)
    response_status = fields.IntField(null=True)
    response_type = fields.CharField(max_length=100, null=True)
    response_body = fields.TextField(null=True)
    user_id: uuid.UUID | None

    class Meta:
        table = "idempotency_keys"
        unique_together = (("caller", "key"),)
        indexes = (("created_at",),)
