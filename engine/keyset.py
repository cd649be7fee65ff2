"""Keyset (seek) pagination: stable cursors for large, growing lists.

A cursor holds the sort value and the id of the last row seen, and the next page starts strictly
after that pair. A row inserted while a client pages can therefore never make it skip or repeat
rows, unlike OFFSET, and a deep page costs as little as the first (an index range scan). Nor
can a row deleted, the cursor's own included: the position needs no row to exist.

That pair (a lead's name, its id) is sealed (`services/cursors.py`) for the list and order it
came from, so a client sees opaque bytes and can send back only a position we gave it: packed as
the row's 16-byte id, then the time as 8 bytes of microseconds since 1970 (UTC), or the text as
UTF-8 padded to a multiple of 32 bytes (so its length shows only roughly).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import ValidationError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.errors import BadUserInput
from models.base import check_storable
from services.cursors import CursorSeal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECONDS = struct.Struct(">q")
PAD_TO = 32


@dataclass(frozen=True)
class Order:
    """Sort by `field` then `id`, both ascending or both descending."""

    field: str
    descending: bool
    is_datetime: bool = False


def scope_of(list_name: str, parent_id: uuid.UUID, order: Order) -> bytes:
    """What a cursor is sealed for: one list (`leads` of one org, `notes` of one lead) in one
    order; a cursor of any other list or order does not open."""
    direction = "desc" if order.descending else "asc"
    return f"{list_name}:{parent_id}:{order.field}:{direction}".encode()


@dataclass
class Page:
    """One page of rows; cursors are sealed only for the rows a client asks them of."""

    rows: list[Any]
    order: Order
    has_next_page: bool
    has_previous_page: bool
    seal: CursorSeal
    scope: bytes

    def cursor(self, row: Any) -> str:
        return encode_cursor(self.seal, self.scope, self.order, row)


def _id_bytes(row_id: Any) -> bytes:
    return (row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id))).bytes


def encode_cursor(seal: CursorSeal, scope: bytes, order: Order, row: Any) -> str:
    value = getattr(row, order.field)
    if order.is_datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        packed = MICROSECONDS.pack((value - EPOCH) // timedelta(microseconds=1))
    else:
        text = value.encode() + b"\x80"
        packed = text + b"\x00" * (-len(text) % PAD_TO)
    return seal.seal(_id_bytes(row.id) + packed, scope)


def decode_cursor(seal: CursorSeal, scope: bytes, order: Order, cursor: str, argument: str,
                  model: type[Model] | None = None) -> tuple[Any, uuid.UUID]:
    """The (sort value, id) position in a cursor. Only a cursor sealed for this list in this
    order opens; its position is checked again all the same (times the database can hold, text
    that `model`'s field accepts). Anything else is BAD_USER_INPUT naming `argument`."""
    try:
        if not isinstance(cursor, str):
            raise TypeError("not text")
        plain = seal.open(cursor, scope)
        row_id, packed = uuid.UUID(bytes=plain[:16]), plain[16:]
        value: Any
        if order.is_datetime:
            (micros,) = MICROSECONDS.unpack(packed)
            value = EPOCH + timedelta(microseconds=micros)
            check_storable(value)
        else:
            value = packed.rstrip(b"\x00").removesuffix(b"\x80").decode()
            if "\x00" in value:
                raise ValueError("not a sort value")
        if model is not None:
            model._meta.fields_map[order.field].validate(value)
        return value, row_id
    except (ValueError, TypeError, OverflowError, struct.error, ValidationError) as exc:
        raise BadUserInput.field(
            argument, "is not a cursor of this list in this order (cursors are opaque: pass "
                      "back a cursor this list gave, with the same orderBy)") from exc


def _beyond(order: Order, value: Any, row_id: uuid.UUID, *, forward: bool) -> Q:
    """Rows strictly after (forward) or before the (value, id) position in `order`."""
    greater = order.descending != forward
    op = "gt" if greater else "lt"
    return Q(**{f"{order.field}__{op}": value}) | Q(**{order.field: value, f"id__{op}": row_id})


def _order_by(order: Order, *, reverse: bool) -> list[str]:
    descending = order.descending != reverse
    prefix = "-" if descending else ""
    return [f"{prefix}{order.field}", f"{prefix}id"]


async def keyset_page(query: QuerySet[Any], order: Order, *, seal: CursorSeal, scope: bytes,
                      first: int | None, after: str | None, last: int | None,
                      before: str | None, max_results: int) -> Page:
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= max_results:
            problem = f"must be between 0 and {max_results}"
            raise BadUserInput(f"{name}: {problem}", {name: problem}, reason="PAGE_SIZE",
                               limit=max_results)
    if first is not None and last is not None:
        raise BadUserInput("Pass `first` or `last`, not both.", {"first": "with last"})
    if after is not None:
        position = decode_cursor(seal, scope, order, after, "after", query.model)
        query = query.filter(_beyond(order, *position, forward=True))
    if before is not None:
        position = decode_cursor(seal, scope, order, before, "before", query.model)
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
        seal=seal,
        scope=scope,
        has_next_page=more if not backwards else before is not None,
        has_previous_page=more if backwards else after is not None,
    )
