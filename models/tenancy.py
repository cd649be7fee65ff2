"""Org-owned rows can be read only through a tenant scope, and there are exactly two.

Every model that belongs to an organization derives from `TenantModel`. Its usual query entry
points (`filter`, `all`, `get`...) refuse to run, so a tenant row is read in one of two ways:

- **In a request**: `ctx.access.scoped(Model, org_ids)` (`auth/access.py`), which accepts only
  orgs whose permission check passed in this request, and leaves restricted leads out for
  credentials that are not people.
- **Outside one** (jobs, Stripe webhooks, realtime fan-out, authentication, plan limits and
  cost budgets): `system_scope(org_id, reason="...")` here, which names the org (or orgs) and
  says why; work that spans every org (a retention sweep, a person's own data across orgs)
  names `EVERY_ORG` explicitly. The reason is kept on the scope (its `repr` and every refusal
  show it).

`TenantModel._scoped` and the model manager behind it are private to these two modules
(`models/tenancy.py`, `auth/access.py`); `tests/test_tenant_scopes.py` fails when any other
module calls them, touches `_meta.manager`/`get_queryset`, or writes raw SQL naming a tenant
table. Raw SQL over a tenant table goes through a scope's `raw`, whose `{tenant}` condition
the scope writes itself. Forgetting the tenant filter is then an error on the first test run,
not a data leak in production.

One narrow exception lives here too: `before_org_known(Model, reason=..., key=value)` finds rows
by a key that names them before any org is known (a secret's hash, an id that authentication
or an OAuth endpoint was handed, a Stripe customer, a person's own memberships). The key must
be the primary key, a unique column, or one the model lists in `lookup_keys`, with one value.
`before_org_known_joined` is the same with a related row joined in (`database.rows.joined`), and
`TenantModel.owner_orgs` reads only which org owns some rows, for permission locators.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any, Final, Self, TypeVar

from tortoise.queryset import QuerySet

from database.rows import as_uuid, joined, select_by_ids
from models.base import BaseModel


class UnscopedQuery(TypeError):
    """An org-owned model was queried without a tenant scope."""


def _refuse(name: str) -> Any:
    def refuse(cls: type[TenantModel], *args: Any, **kwargs: Any) -> Any:
        raise UnscopedQuery(f"{cls.__name__}.{name}() is not tenant-scoped: use "
                            f"ctx.access.scoped({cls.__name__}, org_ids) in a request, or "
                            f"system_scope(org_id, reason=...) outside one")

    return classmethod(refuse)


Rows = Callable[[type["TenantModel"]], QuerySet[Any]]
"""A scope's reader: the rows of a model within the scope's orgs."""


class TenantModel(BaseModel):
    """A row owned by one organization (`organization_id`)."""

    organization_id: uuid.UUID

    tenant_scoped: bool = True
    """Marks the org-owned tables for `database.rows`, which sits below `models` and refuses
    them in `by_ids`."""

    restricted_flag: str | None = None
    """A boolean column marking the rows that `without_restricted` leaves out of a queryset:
    `tenant_sql` leaves them out of raw SQL too when asked to (`hide_restricted`)."""

    lookup_keys: tuple[str, ...] = ()
    """Columns beside the primary key and unique ones by which `before_org_known` may find
    rows of this model (e.g. a person's own memberships by `user_id`)."""

    class Meta:
        abstract = True

    @classmethod
    def _scoped(cls, org_ids: uuid.UUID | Iterable[uuid.UUID]) -> QuerySet[Self]:
        """The rows of these organizations only. Private to the two scopes: `ctx.access`,
        which checks membership first, and `SystemScope`, which names the org and a reason."""
        query = _unfiltered(cls)
        if isinstance(org_ids, uuid.UUID):
            return query.filter(organization_id=org_ids)
        return query.filter(organization_id__in=list(org_ids))

    @classmethod
    def without_restricted(cls, query: QuerySet[Self], rows: Rows) -> QuerySet[Self]:
        """`query` without the rows about a lead whose processing is restricted (the lead
        itself, its notes): what a credential that is not a person never sees (see
        `auth/access.py`). `rows` reads another model within the same scope. A model that
        holds such data overrides it; the rest keep every row.
        """
        return query

    @classmethod
    async def owner_orgs(cls, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Which org owns each of these rows (a narrow exception: only `organization_id` is
        read). Used only to find the org whose permission a field must check before it touches
        the row; it reveals nothing else."""
        # One statement of its own, not built by the ORM: every request for an object by id
        # runs it, and building the query cost more CPU than running it.
        rows, _ = await select_by_ids(cls, list(ids), "id, organization_id")
        return {as_uuid(row["id"]): as_uuid(row["organization_id"]) for row in rows}

    filter = _refuse("filter")
    all = _refuse("all")
    get = _refuse("get")
    get_or_none = _refuse("get_or_none")
    first = _refuse("first")
    exclude = _refuse("exclude")
    annotate = _refuse("annotate")
    exists = _refuse("exists")
    latest = _refuse("latest")
    earliest = _refuse("earliest")
    select_for_update = _refuse("select_for_update")
    in_bulk = _refuse("in_bulk")
    get_or_create = _refuse("get_or_create")
    update_or_create = _refuse("update_or_create")


T = TypeVar("T", bound=TenantModel)


def _unfiltered(model: type[T]) -> QuerySet[T]:
    """Every row of `model`, across orgs: the one escape hatch, used by the scopes only."""
    return model._meta.manager.get_queryset()


class _EveryOrg:
    """The marker of work that spans every organization (see `EVERY_ORG`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EVERY_ORG"


EVERY_ORG: Final = _EveryOrg()
"""What a system scope names for work that spans every org: a retention sweep, a person's own
data (their export, their account's deletion) wherever it lies. Naming it is deliberate: it is
never what a missing org id turns into."""


class SystemScope:
    """Tenant rows for code that runs for no request (jobs, Stripe webhooks, realtime fan-out,
    authentication...): the org it is about, or `EVERY_ORG`, and why it reads them.

        accounts = system_scope(org_id, reason="stripe webhook").scoped(BillingAccount)

    No caller's permission is checked here: the work was authorised where it was recorded (the
    request that scheduled it, Stripe's signature, the credential being checked). Leave out
    neither the org nor the reason: both are refused (`UnscopedQuery`)."""

    __slots__ = ("org_ids", "reason")

    def __init__(self, orgs: uuid.UUID | Iterable[uuid.UUID] | _EveryOrg, *, reason: str) -> None:
        if not isinstance(reason, str) or not reason.strip():
            raise UnscopedQuery("A system scope needs a reason: say why this code reads "
                                "tenant rows outside a request")
        if orgs is None or isinstance(orgs, str | bytes):
            raise UnscopedQuery(f"A system scope needs the org it is about ({reason}): an org "
                                "id, some org ids, or EVERY_ORG")
        self.reason = reason
        self.org_ids: frozenset[uuid.UUID] | None
        if isinstance(orgs, _EveryOrg):
            self.org_ids = None
        elif isinstance(orgs, uuid.UUID):
            self.org_ids = frozenset((orgs,))
        else:
            self.org_ids = frozenset(orgs)
            if not self.org_ids or not all(isinstance(o, uuid.UUID) for o in self.org_ids):
                raise UnscopedQuery(f"A system scope needs the org it is about ({reason}): "
                                    "an org id, some org ids, or EVERY_ORG")

    def __repr__(self) -> str:
        orgs = "EVERY_ORG" if self.org_ids is None else sorted(map(str, self.org_ids))
        return f"SystemScope({orgs}, reason={self.reason!r})"

    def scoped(self, model: type[T]) -> QuerySet[T]:
        """Rows of `model` in the scope's orgs."""
        if self.org_ids is None:
            return _unfiltered(model)
        if len(self.org_ids) == 1:
            return model._scoped(next(iter(self.org_ids)))
        return model._scoped(self.org_ids)

    async def raw(self, model: type[TenantModel], template: str,
                  params: Sequence[Any] = ()) -> tuple[Sequence[Any], bool]:
        """`template` run over the scope's rows of `model`: see `tenant_sql`."""
        if self.org_ids is None:
            raise UnscopedQuery(f"Raw SQL needs named orgs, not EVERY_ORG ({self.reason})")
        return await tenant_sql(model, self.org_ids, template, params)


def system_scope(orgs: uuid.UUID | Iterable[uuid.UUID] | _EveryOrg, *,
                 reason: str) -> SystemScope:
    """The system scope of `orgs` (an org id, some, or `EVERY_ORG`) for `reason`."""
    return SystemScope(orgs, reason=reason)


@cache
def _lookup_keys(model: type[TenantModel]) -> frozenset[str]:
    meta = model._meta
    keys = {meta.pk_attr, *model.lookup_keys}
    keys |= {name for name, field in meta.fields_map.items()
             if getattr(field, "unique", False) and name in meta.fields_db_projection}
    return frozenset(keys)


def before_org_known(model: type[T], *, reason: str, **key: Any) -> QuerySet[T]:
    """The narrow exception to tenant scopes: rows of `model` found by ONE key that names them
    before any org is known (a secret's hash: the secret is the authority; an id authentication
    or an OAuth endpoint was handed; a Stripe customer; a person's own memberships). The key
    must be the primary key, a unique column or one of `model.lookup_keys`; anything else is a
    query across tenants and is refused. Once the org is known, use a scope."""
    _check_lookup(model, reason, key, alone=True)
    return _unfiltered(model).filter(**key)


async def before_org_known_joined(model: type[T], relation: str, *, reason: str,
                                  where: dict[str, Any]) -> list[T]:
    """`before_org_known` with the row that the foreign key `relation` points to attached, in
    one prepared statement (`database.rows.joined`, whose `where` this takes): the viewer's own
    memberships with their orgs, read on every lookup by slug. `where` must name rows by one
    of the model's keys (a single value); other conditions only narrow them."""
    _check_lookup(model, reason, where, alone=False)
    return await joined(model, relation, where)


def _check_lookup(model: type[TenantModel], reason: str, key: dict[str, Any], *,
                  alone: bool) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise UnscopedQuery(f"{model.__name__}: a lookup before the org is known needs a reason")
    keys = _lookup_keys(model)
    named = [name for name, value in key.items()
             if name in keys and not isinstance(value, list | tuple | set | frozenset)]
    if not named or (alone and len(key) != 1):
        raise UnscopedQuery(f"{model.__name__} rows are found before their org is known only "
                            f"by one key naming them ({', '.join(sorted(keys))}), "
                            f"not {', '.join(key) or 'none'}")


async def tenant_sql(model: type[TenantModel], org_ids: frozenset[uuid.UUID], template: str,
                     params: Sequence[Any] = (), *,
                     hide_restricted: bool = False) -> tuple[Sequence[Any], bool]:
    """Raw SQL over `model`'s rows of `org_ids` (already vouched for by a scope): `template`
    names the table `{table}` and must hold `{tenant}`, the org condition this writes, and marks
    its own parameters `?` (numbered `$n` on PostgreSQL here, after the org's). Returns the rows
    and whether the driver gave native types (see `database.rows.build`). With
    `hide_restricted`, the condition also leaves out the rows the model's `restricted_flag`
    marks (as `without_restricted` does for querysets)."""
    if "{tenant}" not in template:
        raise UnscopedQuery(f"Raw SQL over {model.__name__} must hold the {{tenant}} condition")
    db = model._meta.db
    postgres = db.capabilities.dialect == "postgres"
    orgs = sorted(org_ids)
    if len(orgs) == 1:
        condition = "organization_id = ?"
    else:
        condition = f"organization_id IN ({', '.join('?' for _ in orgs)})"
    if hide_restricted and model.restricted_flag is not None:
        condition = f"({condition} AND NOT {{table}}.{model.restricted_flag})"
    values: list[Any] = [org if postgres else str(org) for org in orgs]
    values += params
    sql = template.replace("{tenant}", condition).replace("{table}", model._meta.db_table)
    if postgres:
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
    _, rows = await db.execute_query(sql, values)
    return rows, postgres
