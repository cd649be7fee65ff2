"""Result rows into models, a whole result set at a time.

Tortoise turns each row into keyword arguments and walks every column in Python
(`Model._init_from_db(**row)`); on Q1's ~250 rows that was the request's largest single cost.
Here a plan is made once per model and column list: the values are copied into the instance in
one `dict.update`, and only the columns whose driver value is not already the model's value are
converted. On PostgreSQL asyncpg already decodes `uuid` to `UUID` and `timestamptz` to aware UTC
datetimes (what Tortoise would make of them), so only enums and JSON are left; SQLite hands over
text, and every such column is converted as Tortoise would.

Rows lacking some of the model's columns (`.only()`) and rows with joined models
(`select_related`) take Tortoise's own path, unchanged.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, cast

from tortoise import fields
from tortoise.backends.base.executor import CHUNK_SIZE, BaseExecutor
from tortoise.models import Model

M = TypeVar("M", bound=Model)
Convert = Callable[[Any], Any]

if TYPE_CHECKING:
    from tortoise.fields.relational import RelationalField


class _Plan(NamedTuple):
    source: tuple[Any, Any, Any]  # Tortoise's field lists the plan was made from
    attributes: tuple[str, ...]  # one per value that `pick` gives
    pick: Callable[[Any], Iterable[Any]] | None  # the model's columns out of a row, if it has more
    conversions: tuple[tuple[str, Convert], ...]


def _uuid(value: Any) -> Any:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(value)


def _not_null(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _enum(field: Any) -> Convert:
    """An enum column by a dictionary lookup (`Status("new")` is a slow call); anything the
    lookup does not know goes through the field, which raises as Tortoise would."""
    enum_type: type[Enum] = field.enum_type
    members = enum_type._value2member_map_
    convert = field.to_python_value

    def to_python(value: Any) -> Any:
        member = members.get(value) if value is not None else None
        return member if member is not None else convert(value)

    return to_python


def _datetime(field: fields.DatetimeField) -> Convert:
    convert = field.to_python_value

    def to_python(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        return convert(value)

    return to_python


def _conversion(field: Any, native_types: bool) -> Convert | None:
    """How a driver value of `field` becomes the model's value; None when it already is."""
    if isinstance(field, fields.UUIDField):
        return None if native_types else _uuid
    if isinstance(field, fields.DatetimeField):
        return None if native_types else _datetime(field)
    enum_type = getattr(field, "enum_type", None)
    if isinstance(enum_type, type) and issubclass(enum_type, Enum):
        return _enum(field)
    return field.to_python_value


def column_conversion(field: Any, native_types: bool) -> Convert | None:
    """How a driver value of `field` becomes the model's value (None: it already is), as rows
    built here convert it: shared with compiled operations (`engine/compiler/`), which read
    rows into answers without building models and must see the very same values."""
    return _conversion(field, native_types)


def _plan(model: type[Model], keys: tuple[str, ...], native_types: bool,
          prefix: str = "") -> _Plan | None:
    if prefix:  # a joined model's columns, named "<prefix><column>"; the others are not its
        keys = tuple(key[len(prefix):] if key.startswith(prefix) else f"\0{key}" for key in keys)
    meta = model._meta
    source = (meta.db_native_fields, meta.db_default_fields, meta.db_complex_fields)
    cache: dict[Any, _Plan | None] | None = model.__dict__.get("_relleks_row_plans")
    if cache is None:  # per model class, not inherited
        cache = {}
        type.__setattr__(model, "_relleks_row_plans", cache)
    plan: _Plan | Literal[False] | None = cache.get((keys, native_types), False)
    # A plan holds Tortoise's field lists it was made from: new lists (a new database) mean
    # a new plan.
    if plan is None or (plan and all(a is b for a, b in zip(plan.source, source, strict=True))):
        return plan
    by_key: dict[str, tuple[str, Convert | None]] = {}
    for key, attribute, _field in meta.db_native_fields:
        by_key[key] = (attribute, None)
    for key, attribute, field in meta.db_default_fields:
        by_key[key] = (attribute, _not_null(field.field_type))
    for key, attribute, field in meta.db_complex_fields:
        by_key[key] = (attribute, _conversion(field, native_types))
    if not set(by_key) <= set(keys):
        cache[(keys, native_types)] = None  # a partial row: Tortoise's path
        return None
    indices = [i for i, key in enumerate(keys) if key in by_key]
    attributes = tuple(by_key[keys[i]][0] for i in indices)
    pick: Callable[[Any], Iterable[Any]] | None = None
    if len(indices) != len(keys):
        pick = itemgetter(*indices) if len(indices) > 1 else (lambda row: (row[indices[0]],))
    conversions = tuple((attribute, convert) for attribute, convert in by_key.values()
                        if convert is not None)
    plan = _Plan(source, attributes, pick, conversions)
    cache[(keys, native_types)] = plan
    return plan


def build(model: type[M], rows: Sequence[Any], *, native_types: bool,
          prefix: str = "") -> list[M]:
    """`rows` (asyncpg records or sqlite3 rows, all with the same columns) as instances of
    `model`, alike to what Tortoise builds. Columns that are not the model's (a window function's
    rank, say) are left out; with a `prefix`, the model's columns are those named with it (a
    joined model's, see `joined`)."""
    if not rows:
        return []
    plan = _plan(model, tuple(rows[0].keys()), native_types, prefix)
    if plan is None:
        if prefix:
            raise ValueError(f"the rows lack some of {model.__name__}'s columns")
        return [model._init_from_db(**dict(row)) for row in rows]
    meta = model._meta
    state = {"_partial": False, "_saved_in_db": True,
             "_custom_generated_pk": meta.db_pk_column not in meta.generated_db_fields}
    new = model.__new__
    attributes, pick, conversions = plan.attributes, plan.pick, plan.conversions
    instances = []
    for row in rows:
        instance = new(model)
        values = instance.__dict__
        values.update(state)
        values["_await_when_save"] = {}
        values.update(zip(attributes, row if pick is None else pick(row), strict=True))
        for attribute, convert in conversions:
            values[attribute] = convert(values[attribute])
        instances.append(instance)
    return instances


async def by_ids(model: type[M], ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, M]:
    """Rows of `model` by primary key, in one statement whose text depends only on the model (on
    PostgreSQL `= ANY($1)`, one array parameter), so it is prepared once per connection and
    never goes through the ORM's query builder: loaders of users, orgs and apps run on every
    request. Only for tables outside the tenant scope; org-owned rows go through theirs."""
    if getattr(model, "tenant_scoped", False):  # `models.tenancy.TenantModel`
        raise TypeError(f"{model.__name__} rows are org-owned: read them through their scope")
    rows, native = await select_by_ids(model, ids)
    return {instance.pk: instance for instance in build(model, rows, native_types=native)}


async def select_by_ids(model: type[Model], ids: Sequence[uuid.UUID], columns: str = "*"
                        ) -> tuple[Sequence[Any], bool]:
    """The driver's rows of `model` whose primary key is in `ids` (`columns`, a literal list
    of the caller's), and whether it gave native types (see `build`); the statement as
    `by_ids` describes it. Callers keep the tenant scope (`by_ids`, `TenantModel.owner_orgs`).
    """
    if not ids:
        return [], True
    db = model._meta.db
    native = native_types(db)
    # Names from the model's own metadata and the caller's literal; the ids are parameters.
    table, key = model._meta.db_table, model._meta.db_pk_column
    select = f'SELECT {columns} FROM "{table}" WHERE "{key}"'  # noqa: S608
    if native:
        sql = f"{select} = ANY($1::uuid[])"
        params: list[Any] = [list(ids)]
    else:
        sql = f"{select} IN ({', '.join('?' for _ in ids)})"
        params = [str(row_id) for row_id in ids]
    _, rows = await db.execute_query(sql, params)
    return rows, native


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID column's driver value as `uuid.UUID` exactly (SQLite gives its text, asyncpg its
    own UUID type)."""
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


async def joined(model: type[M], relation: str, where: dict[str, Any]) -> list[M]:
    """Rows of `model` matching `where`, each with the row its foreign key `relation` points to
    attached (as `select_related` does), in one statement whose text is built once per shape:
    Tortoise's `select_related` costs three times the statement itself for one row, and the
    request's session and the viewer's membership are read so on every request.

    `where` maps a column of `model`, or `"<relation>.<column>"` of the joined row, to a value
    (`=`) or a list of values (`IN`). Callers keep the tenant scope: `where` names the org, or
    the viewer's own rows. The relation must be required: an inner join would drop the rows
    without one."""
    if model._meta.fields_map[relation].null:
        raise ValueError(f"{model.__name__}.{relation} may be null: use select_related")
    db = model._meta.db
    native = native_types(db)
    shape = tuple((column, len(value) if isinstance(value, list | tuple) else None)
                  for column, value in where.items())
    values = [one for value in where.values()
              for one in (value if isinstance(value, list | tuple) else [value])]
    if not values:
        return []
    params = [value if native or not isinstance(value, uuid.UUID) else str(value)
              for value in values]
    _, rows = await db.execute_query(_joined_sql(model, relation, shape, native), params)
    target = cast("RelationalField[Model]", model._meta.fields_map[relation]).related_model
    instances = build(model, rows, native_types=native)
    targets = build(target, rows, native_types=native, prefix=f"{relation}.")
    await _after_load(model, instances)
    await _after_load(target, targets)
    for instance, related in zip(instances, targets, strict=True):
        object.__setattr__(instance, f"_{relation}", related)
    return instances


@cache
def _joined_sql(model: type[Model], relation: str,
                shape: tuple[tuple[str, int | None], ...], native: bool) -> str:
    meta = model._meta
    field = meta.fields_map[relation]
    target = cast("RelationalField[Model]", field).related_model
    selected = [f'm."{column}"' for column in meta.db_fields]
    selected += [f'r."{column}" AS "{relation}.{column}"' for column in target._meta.db_fields]
    numbers = iter(range(1, 1 + sum(count or 1 for _, count in shape)))
    conditions = []
    for column, count in shape:
        table, name = ("r", column.split(".", 1)[1]) if "." in column else ("m", column)
        projection = (target if table == "r" else model)._meta.fields_db_projection
        marks = [f"${next(numbers)}" if native else "?" for _ in range(count or 1)]
        test = f"= {marks[0]}" if count is None else f"IN ({', '.join(marks)})"
        conditions.append(f'{table}."{projection[name]}" {test}')
    # Names from the models' own metadata; the values are parameters.
    return (f'SELECT {", ".join(selected)} FROM "{meta.db_table}" m '  # noqa: S608
            f'JOIN "{target._meta.db_table}" r '
            f'ON r."{target._meta.db_pk_column}" = m."{field.source_field}" '
            f"WHERE {' AND '.join(conditions)}")


def native_types(executor_or_client: Any) -> bool:
    """Whether the driver hands over UUIDs and aware datetimes (asyncpg) rather than text."""
    db = getattr(executor_or_client, "db", executor_or_client)
    return bool(db.capabilities.dialect == "postgres")


class FastSelectExecutor(BaseExecutor):
    """Tortoise's executor with `execute_select` building through `build`, where it can."""

    async def execute_select(self, sql: str, values: list | None = None,
                             custom_fields: list | None = None) -> list:
        # The first entry is the model itself; more are `select_related` joins.
        if len(self.select_related_idx or ()) > 1 or custom_fields:
            selected = await super().execute_select(sql, values, custom_fields)
            await _after_load(self.model, selected, joined=True)
            return selected
        _, rows = await self.db.execute_query(sql, values)
        native = native_types(self)
        instances: list[Any] = []
        for start in range(0, len(rows), CHUNK_SIZE):
            if start:
                await asyncio.sleep(0)  # as Tortoise does: a huge result yields to the loop
            instances += build(self.model, rows[start:start + CHUNK_SIZE], native_types=native)
        await _after_load(self.model, instances)
        await self._execute_prefetch_queries(instances)
        return instances


async def _after_load(model: type[Model], instances: list[Any], *, joined: bool = False) -> None:
    """The model's own last step for rows it was given, if it has one: encrypted models
    (`keystore.fields.Encrypted`) decrypt there, after loading their orgs' keys. With
    `joined`, the related rows attached to them (`select_related`) too."""
    hook = getattr(model, "after_load", None)
    if hook is not None and instances:
        await hook(instances)
    if joined:
        related: dict[type[Model], list[Model]] = {}
        for instance in instances:
            for value in vars(instance).values():
                if isinstance(value, Model) and hasattr(type(value), "after_load"):
                    related.setdefault(type(value), []).append(value)
        for related_model, rows in related.items():
            await _after_load(related_model, rows)
