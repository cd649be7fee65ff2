"""Scalars whose parsing we tighten: a `DateTime` must be one the database can hold.

Strawberry's own `DateTime` accepts any ISO 8601 text Python can read, including times that fall
outside the years 1 to 9999 once converted to UTC; PostgreSQL's driver then fails on them and the
client got INTERNAL. A variable out of that range is refused here (its error names the variable's
field, see `engine/extensions.py`); a literal in the document is refused by the `InputLiterals`
validation rule, which knows the argument and input field it sits in.

`Date` and `DateTime` also get descriptions that give their format (Strawberry's say only
"isoformat").
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from dateutil.parser import isoparse
from graphql import StringValueNode, ValueNode
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from models.base import OUT_OF_RANGE, check_storable


def _read(value: object, *, check_range: bool) -> datetime.datetime:
    if not isinstance(value, str):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". Expected a string.')
    try:
        parsed = isoparse(value)
        return check_storable(parsed) if check_range else parsed
    except OverflowError:  # `9999-12-31T24:00:00Z` is the day after the last one
        raise StrawberryInputCoercionError(f'"{value}" {OUT_OF_RANGE}.') from None
    except ValueError as exc:
        if str(exc) == OUT_OF_RANGE:
            raise StrawberryInputCoercionError(f'"{value}" {exc}.') from None
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". {exc}') from None


def parse_datetime(value: object) -> datetime.datetime:
    return _read(value, check_range=True)


def parse_datetime_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> object:
    """A literal's format only: its range is checked by `InputLiterals`, with its field name."""
    if not isinstance(node, StringValueNode):
        raise StrawberryInputCoercionError("Value cannot represent a DateTime: expected a string.")
    return _read(node.value, check_range=False)


DateTime: ScalarDefinition = dataclasses.replace(
    DateTimeDefinition, parse_value=parse_datetime, parse_literal=parse_datetime_literal,
    implementation=None,
    description="A point in time as ISO 8601 text. Answers are in UTC with their offset, e.g. "
                "`2026-11-03T14:05:09.120000+00:00`. Inputs may carry any offset (none: UTC) and "
                "must fall within the years 1 to 9999 once converted to UTC (else "
                "BAD_USER_INPUT naming the field).")

Date: ScalarDefinition = dataclasses.replace(
    DateDefinition, implementation=None,
    description="A calendar day as ISO 8601 text, `YYYY-MM-DD` (e.g. `2026-11-01`).")

SCALAR_OVERRIDES: dict[object, Any] = {datetime.datetime: DateTime, datetime.date: Date}
