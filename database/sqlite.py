"""The SQLite engine for our models: Tortoise's own, with Unicode-aware UPPER and LOWER.

SQLite's built-in UPPER and LOWER fold ASCII letters only, so a case-insensitive lookup
(`icontains` is `UPPER(col) LIKE UPPER(term)`) would not find "Zoë" when asked for "ZOË", as
PostgreSQL does: a lead search would depend on the database. Python's case mapping, installed on
each connection, makes both databases agree. `database/__init__.py` names this module as the
`engine` of SQLite URLs (Tortoise picks the migration schema editor by the client's module name,
which is why the module's name says sqlite).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from tortoise.backends.base.client import NestedTransactionContext, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.backends.sqlite.executor import SqliteExecutor

from database.rows import FastSelectExecutor
from database.traced import TracedStatements
from observability.metrics import POOL_IN_USE, POOL_WAIT_SECONDS, POOL_WAITS

ENGINE = "sqlite"


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class Executor(FastSelectExecutor, SqliteExecutor):
    """Rows into models through `database.rows`, as on PostgreSQL."""


class Transaction(TracedStatements, SqliteTransactionWrapper):
    executor_class = Executor
    db_system = "sqlite"

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(Transaction(self))


class MeteredLock(asyncio.Lock):
    """The lock in front of SQLite's one connection, counted like a pool of one
    (`observability.metrics`): held is in use, a taker that finds it held waits."""

    async def acquire(self) -> Literal[True]:
        if self.locked():
            POOL_WAITS.labels(ENGINE).inc()
        started = time.perf_counter()
        taken = await super().acquire()
        POOL_WAIT_SECONDS.labels(ENGINE).observe(time.perf_counter() - started)
        POOL_IN_USE.labels(ENGINE).inc()
        return taken

    def release(self) -> None:
        POOL_IN_USE.labels(ENGINE).dec()
        super().release()


class UnicodeSqliteClient(TracedStatements, SqliteClient):
    executor_class = Executor
    db_system = "sqlite"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = MeteredLock()

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(Transaction(self), self._lock)

    async def _post_connect(self) -> None:
        await super()._post_connect()
        if self._connection is not None:
            await self._connection.create_function("upper", 1, _upper, deterministic=True)
            await self._connection.create_function("lower", 1, _lower, deterministic=True)


client_class = UnicodeSqliteClient  # what Tortoise looks up in an `engine` module
