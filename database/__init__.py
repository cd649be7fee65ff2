"""The database layer: Tortoise's set-up and the fast path under it.

- this module: one config for the server, the migration CLI and the tests, and
  `one_connection` (a query's reads share one pooled connection);
- `rows`: builds model rows straight from driver records (no per-row Tortoise overhead);
- `asyncpg_client`, `sqlite`: the two engines, Tortoise's clients with the fast executor.

Layer: below `models` (it names no table; org-owned ones mark themselves `tenant_scoped`),
above `observability` and `core`. Loaders use `rows.by_ids`/`joined`, a query's rare write
`writer()`; tables live in `models/`.

`TORTOISE_ORM` is what `tortoise -c database.TORTOISE_ORM makemigrations` reads; the server and
the tests call `init_database(url)` and `migrate_database(url)` so that every database, SQLite or
PostgreSQL, gets its schema from the committed migrations and never from `generate_schemas`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate

from core.settings import Settings, default_keystore_url
from database.asyncpg_client import Client, Session
from database.queue_tables import apply_schema as apply_jobs_schema

MODEL_MODULES = ["models.accounts", "models.orgs", "models.activity", "models.leads",
                 "models.billing", "models.tokens", "models.oauth",
                 "models.social",
                 "models.consents", "models.policies",
                 "models.jobs", "models.forms", "models.custom_domains", "models.webhooks",
                 "models.idempotency", "models.ai", "models.usage", "models.support",
                 "models.privacy_requests"]

KEYSTORE_MODEL_MODULES = ["keystore.models", "keystore.ledger"]
"""The keystore's tables (`keystore/`): its own connection and app, `"keystore"`, in the database
KEYSTORE_URL names, apart from the data, so that destroying a key reaches every data backup."""


ENGINES = {"tortoise.backends.sqlite": "database.sqlite",
           "tortoise.backends.asyncpg": "database.asyncpg_client"}


def tortoise_config(database_url: str, *, keystore_url: str | None = None,
                    pooler: str = "session") -> dict[str, Any]:
    """The data (`"default"`, app `relleks`) and the keystore (`"keystore"`, app `keystore`);
    `keystore_url` unset: the one beside the data (`core.settings.default_keystore_url`).
    `pooler`: DATABASE_POOLER (`core.settings.Settings.database_pooler`)."""
    keystore_url = keystore_url or default_keystore_url(database_url)
    return {
        "connections": {"default": _connection(database_url, pooler),
                        "keystore": _connection(keystore_url, pooler)},
        "apps": {
            "relleks": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            },
            "keystore": {
                "models": KEYSTORE_MODEL_MODULES,
                "default_connection": "keystore",
                "migrations": "keystore.migrations",
            },
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str, pooler: str = "session") -> str | dict[str, Any]:
    """Our engines (`database/sqlite.py`, `database/asyncpg_client.py`): Tortoise's own, building
    rows through `database.rows`, and on SQLite with Unicode-aware UPPER/LOWER.

    PostgreSQL keeps asyncpg's session reset when a connection goes back to the pool: a
    statement cancelled between asyncpg's prepare (Parse, Describe and Flush, no Sync) and its
    execution leaves the server mid-protocol, holding the locks the parse took, and only the
    reset's query ends that. Skipping it once left pooled connections blocking DDL and TRUNCATE
    indefinitely. Its round trip is paid once per query, not per statement (`one_connection`).

    A URL's `sslmode=require|verify-ca|verify-full` (DATABASE_SSLMODE adds it) becomes asyncpg's
    `ssl`, which takes the same words.

    Behind a transaction pooler (`pooler="transaction"`, PgBouncer before 1.21, which cannot
    follow prepared statements) asyncpg's statement cache is off: each statement is then an
    unnamed one, parsed again in the same round trip as its execution, so it never outlives the
    server connection it was parsed on ("prepared statement ... does not exist" otherwise)."""
    config = expand_db_url(database_url)
    credentials = config.get("credentials", {})
    if "sslmode" in credentials:  # libpq's name (pg_dump reads it too); asyncpg's is `ssl`
        credentials["ssl"] = credentials.pop("sslmode")
    if pooler == "transaction" and config["engine"] == "tortoise.backends.asyncpg":
        credentials["statement_cache_size"] = 0
    engine = ENGINES.get(config["engine"])
    return {**config, "engine": engine} if engine else database_url


_SETTINGS = Settings.from_env()
TORTOISE_ORM = tortoise_config(_SETTINGS.database_url, keystore_url=_SETTINGS.keystore_url,
                               pooler=_SETTINGS.database_pooler)


async def migrate_database(database_url: str, *, keystore_url: str | None = None,
                           pooler: str = "session", jobs_database_url: str | None = None) -> None:
    """Apply every committed migration that the data and the keystore have not seen yet, and
    the job queue's schema (through `jobs_database_url` when given: JOBS_DATABASE_URL). A
    PostgreSQL keystore database that does not exist yet is created (on the same server by
    default: `<name>_keystore`)."""
    keystore_url = keystore_url or default_keystore_url(database_url)
    await create_postgres_database(keystore_url)
    await migrate(config=tortoise_config(database_url, keystore_url=keystore_url, pooler=pooler))
    await Tortoise.close_connections()
    # procrastinate's own tables (PostgreSQL only)
    await apply_jobs_schema(jobs_database_url or database_url)


async def create_postgres_database(url: str) -> None:
    """Create the PostgreSQL database `url` names unless it exists (nothing for SQLite)."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "asyncpg"}:
        return
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql",
                                                            path="/postgres", query="")))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # created by another process meanwhile
    finally:
        await admin.close()


async def init_database(database_url: str, *, keystore_url: str | None = None,
                        global_fallback: bool = False, pooler: str = "session") -> None:
    """`global_fallback=True` lets other tasks see the connections: uvicorn runs the lifespan
    in its own task, and without it every request fails with "No TortoiseContext is active".
    `pooler`: DATABASE_POOLER."""
    await Tortoise.init(config=tortoise_config(database_url, keystore_url=keystore_url,
                                               pooler=pooler),
                        _enable_global_fallback=global_fallback)


async def close_database() -> None:
    await Tortoise.close_connections()


@asynccontextmanager
async def one_connection() -> AsyncIterator[None]:
    """The block's statements share one pooled connection (`database.asyncpg_client.Session`), for
    read-only work (a write that a query must make goes to `database.asyncpg_client.writer()`).
    SQLite has a single connection anyway, and inside a transaction there is one already."""
    client = connections.get("default")
    if type(client) is not Client:
        yield
        return
    session = Session(client)
    token = connections.set("default", session)
    try:
        yield
    finally:
        connections.reset(token)
        await session.close()
