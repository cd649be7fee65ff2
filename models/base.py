"""Fields every table shares: opaque UUID keys (no sequential id leaks) and timestamps.

Model docstrings become SQL table comments, and Tortoise 1.1 splits migration SQL on every
semicolon, so a model docstring must not contain one.
"""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model


class _NotAwaitable:
    """A class attribute that `hasattr(instance, "__await__")` reports as absent."""

    def __get__(self, instance: object, owner: type) -> None:
        raise AttributeError("__await__")


class BaseModel(Model):
    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = fields.DatetimeField(auto_now_add=True)

    # Tortoise makes every model instance awaitable (`await instance` returns it). GraphQL
    # execution awaits anything awaitable a resolver returns, so each row in a list became a
    # task and a trip through the event loop: a third of Q1's CPU. Our rows are plain values.
    __await__ = _NotAwaitable()  # type: ignore[assignment]

    class Meta:
        abstract = True
