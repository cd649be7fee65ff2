"""Fields every table shares: opaque UUID keys (no sequential id leaks) and timestamps.

Model docstrings become SQL table comments, and Tortoise 1.1 splits migration SQL on every
semicolon, so a model docstring must not contain one.
"""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model


class BaseModel(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        abstract = True
