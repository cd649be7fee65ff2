"""Fields every table shares: opaque UUID keys (no sequential id leaks) and timestamps.

Model docstrings become SQL table comments, and Tortoise 1.1 splits migration SQL on every
semicolon, so a model docstring must not contain one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tortoise import fields
from tortoise.models import Model

OUT_OF_RANGE = "is out of range: a date and time must fall within the years 1 to 9999 in UTC"


def check_storable(value: datetime) -> datetime:
    """`value` if the database can compare or store it, else ValueError (`OUT_OF_RANGE`).

    A time zone can take a valid Python datetime past the year 9999 or before the year 1 once
    converted to UTC (`9999-12-31T23:59:59-14:00`), which PostgreSQL's driver does first and
    fails at. Naive values are taken as UTC, so they always fit."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError(OUT_OF_RANGE) from None
    return value


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
    __await__ = _NotAwaitable()  # type: ignore[assignment]  # a descriptor that raises AttributeError

    class Meta:
        abstract = True
