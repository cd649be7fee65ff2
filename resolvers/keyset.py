"""Keyset (seek) pagination: stable cursors for large, growing lists.

A cursor holds the sort value and the id of the last row seen, and the next page starts strictly
after that pair. A row inserted while a client pages can therefore never make it skip or repeat
rows, unlike OFFSET, and a deep page costs as little as the first (an index range scan).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.exceptions import ValidationError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from errors import BadUserInput
from models.base import check_storable


@dataclass(frozen=True)
class Order:
    """Sort by `field` then `id`, both ascending or both descending."""

    field: str
    descending: bool
    is_datetime: bool = False


@dataclass
class Page:
    """One page of rows; cursors are encoded only for the rows a client asks them of."""

    rows: list[Any]
    order: Order
    has_next_page: bool
    has_previous_page: bool

    def cursor(self, row: Any) -> str:
        return encode_cursor(self.order, row)


def encode_cursor(order: Order, row: Any) -> str:
    value = getattr(row, order.field)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = orjson.dumps([order.field, value, str(row.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: Order, cursor: str, argument: str,
                  model: type[Model] | None = None) -> tuple[Any, uuid.UUID]:
    """The (sort value, id) position in a cursor. Clients can send anything: only a position
    that one of our cursors could hold gets through (sort values are datetimes with a time zone
    that the database can hold, or text that `model`'s field accepts), anything else is
    BAD_USER_INPUT naming `argument`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        field, value, row_id = orjson.loads(base64.urlsafe_b64decode(padded))
        if field != order.field or not isinstance(row_id, str):
            raise ValueError("cursor from another ordering")
        if order.is_datetime:
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("a cursor's time has a time zone")
            check_storable(value)
        elif not isinstance(value, str) or "\x00" in value:
            raise ValueError("not a sort value")
        if model is not None:
            model._meta.fields_map[order.field].validate(value)
        return value, uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, ValidationError) as exc:
        raise BadUserInput.field(argument, "is not a cursor of this list in this order") from exc


def _beyond(order: Order, value: Any, row_id: uuid.UUID, *, forward: bool) -> Q:
    """Rows strictly after (forward) or before the (value, id) position in `order`."""
    greater = order.descending != forward
    op = "gt" if greater else "lt"
    return Q(**{f"{order.field}__{op}": value}) | Q(**{order.field: value, f"id__{op}": row_id})


def _order_by(order: Order, *, reverse: bool) -> list[str]:
    descending = order.descending != reverse
    prefix = "-" if descending else ""
    return [f"{prefix}{order.field}", f"{prefix}id"]


async def keyset_page(query: QuerySet[Any], order: Order, *, first: int | None,
                      after: str | None, last: int | None, before: str | None,
                      max_results: int) -> Page:
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= max_results:
            problem = f"must be between 0 and {max_results}"
            raise BadUserInput(f"{name}: {problem}", {name: problem}, reason="PAGE_SIZE",
                               limit=max_results)
    if first is not None and last is not None:
        raise BadUserInput("Pass `first` or `last`, not both.", {"first": "with last"})
    if after is not None:
        position = decode_cursor(order, after, "after", query.model)
        query = query.filter(_beyond(order, *position, forward=True))
    if before is not None:
        position = decode_cursor(order, before, "before", query.model)
        query = query.filter(_beyond(order, *position, forward=False))
    backwards = last is not None
    size = last if backwards else (first if first is not None else max_results)
    assert size is not None
    rows = list(await query.order_by(*_order_by(order, reverse=backwards)).limit(size + 1))
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    return Page(
        rows=rows,
        order=order,
        has_next_page=more if not backwards else before is not None,
        has_previous_page=more if backwards else after is not None,
    )
