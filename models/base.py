"""Fields every table shares: opaque UUID keys (no sequential id leaks) and timestamps.

Model docstrings become SQL table comments, and Tortoise 1.1 splits migration SQL on every
semicolon, so a model docstring must not contain one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any, NamedTuple, Self

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

    @classmethod
    def _init_from_db(cls, **kwargs: Any) -> Self:
        """An instance from a database row, as Tortoise's own `_init_from_db` makes it, without
        its per-instance `__setattr__` override calls and per-UUID-column method calls: a page
        of Q1 turns ~250 rows into models, and this was a tenth of its CPU. Partial rows
        (`.only()`) take Tortoise's path."""
        plan: _RowPlan | None = cls.__dict__.get("_relleks_row_plan")
        meta = cls._meta
        if plan is None or plan.source[0] is not meta.db_native_fields \
                or plan.source[1] is not meta.db_default_fields \
                or plan.source[2] is not meta.db_complex_fields:
            plan = _row_plan(cls)
        self = cls.__new__(cls)
        values = self.__dict__
        values["_partial"] = False
        values["_saved_in_db"] = True
        values["_custom_generated_pk"] = plan.custom_generated_pk
        values["_await_when_save"] = {}
        try:
            for key, attribute, kind, convert in plan.columns:
                value = kwargs[key]
                if kind is _UUID:
                    if value is not None and not isinstance(value, uuid.UUID):
                        value = uuid.UUID(value)
                elif kind is _COMPLEX or (kind is _DEFAULT and value is not None):
                    value = convert(value)  # type: ignore[misc]
                values[attribute] = value
        except KeyError:
            return super()._init_from_db(**kwargs)  # type: ignore[return-value]
        return self


_NATIVE, _DEFAULT, _COMPLEX, _UUID = (object() for _ in range(4))


class _RowPlan(NamedTuple):
    source: tuple[Any, Any, Any]
    custom_generated_pk: bool
    columns: tuple[tuple[str, str, object, Callable[[Any], Any] | None], ...]


def _datetime_converter(field: fields.DatetimeField) -> Callable[[Any], Any]:
    """asyncpg hands `timestamptz` columns over as aware UTC datetimes, which is what Tortoise's
    `to_python_value` makes of them too (it reads two environment variables and converts each
    one, ~500 times per page of Q1); anything else (SQLite's text) takes Tortoise's path."""
    convert = field.to_python_value

    def to_python(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        return convert(value)

    return to_python


def _row_plan(model: type[Model]) -> _RowPlan:
    """How each column of `model` becomes an attribute: Tortoise's three field lists (driver
    native, plain type cast, `to_python_value`), UUIDs checked in place. Built again whenever
    Tortoise rebuilds the lists (a new connection, another database), which `_init_from_db`
    notices by their identity."""
    meta = model._meta
    source = (meta.db_native_fields, meta.db_default_fields, meta.db_complex_fields)
    columns: list[tuple[str, str, object, Callable[[Any], Any] | None]] = []
    columns += [(key, attribute, _NATIVE, None) for key, attribute, _ in meta.db_native_fields]
    columns += [(key, attribute, _DEFAULT, field.field_type)
                for key, attribute, field in meta.db_default_fields]
    columns += [(key, attribute, _UUID, None) if isinstance(field, fields.UUIDField)
                else (key, attribute, _COMPLEX, _datetime_converter(field))
                if isinstance(field, fields.DatetimeField)
                else (key, attribute, _COMPLEX, field.to_python_value)
                for key, attribute, field in meta.db_complex_fields]
    plan = _RowPlan(source, meta.db_pk_column not in meta.generated_db_fields, tuple(columns))
    type.__setattr__(model, "_relleks_row_plan", plan)
    return plan
