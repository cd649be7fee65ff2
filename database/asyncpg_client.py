"""The PostgreSQL engine for our models: Tortoise's asyncpg client, building rows with
`database.rows` (in and out of transactions), and `Session`, one connection for a whole read-only
operation (a write that a query must make goes around it, through `writer()`).
`database/__init__.py` names this module as the `engine` of PostgreSQL URLs; Tortoise picks the
migration schema editor by the client's module name, which is why the module's name says asyncpg.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.asyncpg.executor import AsyncpgExecutor
from tortoise.backends.base.client import (
    BaseDBAsyncClient,
    NestedTransactionContext,
    PoolConnectionWrapper,
    TransactionContext,
    TransactionContextPooled,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

from database.rows import FastSelectExecutor
from database.traced import TracedStatements
from observability.metrics import POOL_IN_USE, POOL_WAIT_SECONDS, POOL_WAITS

ENGINE = "postgresql"


class Executor(FastSelectExecutor, AsyncpgExecutor):
    pass


class Transaction(TracedStatements, TransactionWrapper):
    executor_class = Executor
    db_system = "postgresql"

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(Transaction(self))


class MeteredPool:
    """asyncpg's pool, counting connections in use, acquisitions that had to wait for one and
    how long taking one took (`observability.metrics`). Tortoise only awaits `acquire()` and
    calls `release()`; everything else goes to the pool itself."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def acquire(self) -> Any:
        pool = self._pool
        if pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size():
            POOL_WAITS.labels(ENGINE).inc()
        started = time.perf_counter()
        connection = await pool.acquire()
        _CLEAN.discard(getattr(connection, "_con", connection))  # clean only once given back
        POOL_WAIT_SECONDS.labels(ENGINE).observe(time.perf_counter() - started)
        POOL_IN_USE.labels(ENGINE).inc()
        return connection

    async def release(self, connection: Any) -> None:
        POOL_IN_USE.labels(ENGINE).dec()
        await self._pool.release(connection)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class Client(TracedStatements, AsyncpgDBClient):
    executor_class = Executor
    db_system = "postgresql"

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return cast(asyncpg.Pool, MeteredPool(await super().create_pool(reset=_reset, **kwargs)))

    def _in_transaction(self) -> TransactionContext:
        return TransactionContextPooled(Transaction(self), self._pool_init_lock)

    def acquire_connection(self) -> Any:
        return _OneStatement(self, self._pool_init_lock)


class _OneStatement(PoolConnectionWrapper[asyncpg.Connection]):
    """A pooled connection for one statement outside a session or transaction (a request's
    sign-in, a write): given back without the reset query when the statement ran to its end,
    as `Session.close` explains."""

    __slots__ = ()

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if exc_type is None and self.connection is not None:
            _CLEAN.add(getattr(self.connection, "_con", self.connection))
        await super().__aexit__(exc_type, exc_val, exc_tb)


_CLEAN: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()
"""Connections a `Session` gives back after statements that each ran to its end."""


async def _reset(connection: asyncpg.Connection) -> None:
    """What the pool does to a connection given back, after asyncpg's own rollback of an open
    transaction: asyncpg's reset query (advisory locks, cursors, LISTEN, settings), except for
    a connection a `Session` gives back clean (see `Session.close`)."""
    if connection in _CLEAN:
        _CLEAN.discard(connection)
        return
    query = connection.get_reset_query()
    if query:
        await connection.execute(query)


class Session(Transaction):
    """Every statement of one read-only operation on one pooled connection, taken at the first
    statement and given back by `close()`; statements take turns on it.

    Each statement otherwise takes a connection from the pool and gives it back, and asyncpg
    resets the session on each return (see `database/__init__.py`): a round trip and a query for the
    server per statement, which on Q1 doubled the statements PostgreSQL ran. Transactions run on
    the session's connection too (a second one from the pool could deadlock once every pooled
    connection is some session's), and anything that runs after `close()` (a task the operation
    left behind) goes back to the pool. It is a transaction wrapper only for the statement lock
    and connection handling it inherits; it never begins a transaction itself.

    It is for reads: a write a query cannot avoid (a fresh `downloadUrl` stores its token's
    hash) goes to `writer()`, and `tests/privacy/test_export_link_writes.py` fails when a
    query's write rides the session."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self._client = client
        self._connection = None
        self._pooled: PoolConnectionWrapper[asyncpg.Connection] | None = None
        self._closed = False
        self._clean = True
        """No statement failed or was cancelled, and no transaction ran: see `close`."""

    def acquire_connection(self) -> Any:
        if self._closed:
            return self._client.acquire_connection()
        return _HeldConnection(self)

    def _in_transaction(self) -> TransactionContext:
        if self._closed:
            return self._client._in_transaction()
        return _SessionTransaction(self)

    async def close(self) -> None:
        """Give the connection back. Unless a statement failed or was cancelled (or a
        transaction ran), the pool skips the reset query: our statements set nothing, lock
        nothing outside transactions and listen to nothing (no `SET`, advisory lock or `LISTEN`
        anywhere in the code; the job queue's LISTEN has connections of its own), so after
        statements that each ran to its end there is nothing to reset, and the reset was a round
        trip (and four statements for the server) twice a request, the sign-in's and the
        query's. A cancelled statement, the case the reset exists for (`database._connection`),
        always gets it, and so does a transaction's connection."""
        self._closed = True
        async with self._lock:  # a statement still running (a cancelled operation's) ends first
            connection = self._connection
            pooled = self._let_go()
        if pooled is not None:
            if self._clean and connection is not None:
                _CLEAN.add(getattr(connection, "_con", connection))  # under the pool's proxy
            await pooled.__aexit__(None, None, None)

    def _let_go(self) -> PoolConnectionWrapper[asyncpg.Connection] | None:
        """Forget the connection (the next statement takes one again); hold `_lock`, and give
        back what this returns."""
        pooled, self._pooled = self._pooled, None
        self._connection = None
        return pooled


class _HeldConnection:
    """`Session.acquire_connection()`: the session's connection, one statement at a time."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    async def __aenter__(self) -> asyncpg.Connection:
        session = self.session
        await session._lock.acquire()
        try:
            if session._connection is None:
                client = session._client
                session._pooled = PoolConnectionWrapper(client, client._pool_init_lock)
                session._connection = await session._pooled.__aenter__()
        except BaseException:
            session._lock.release()
            raise
        return session._connection

    async def __aexit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:
            self.session._clean = False
        self.session._lock.release()


class _SessionTransaction(TransactionContext):
    """A transaction in a `Session`, on its connection: Tortoise's `TransactionContextPooled`,
    with the session's turn on the connection instead of a connection from the pool. Other
    statements of the session wait for its end."""

    __slots__ = ("_held", "client", "connection_name", "token")
    client: Transaction

    def __init__(self, session: Session) -> None:
        session._clean = False
        self._held = _HeldConnection(session)
        self.client = Transaction(session._client)
        self.connection_name = session.connection_name

    async def __aenter__(self) -> Transaction:
        self.client._connection = await self._held.__aenter__()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException:
            get_connections().reset(self.token)
            await self._held.__aexit__(None, None, None)
            raise
        return self.client

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            if not self.client._finalized:
                if exc_type:
                    if exc_type is not TransactionManagementError:  # already failed
                        await self.client.rollback()
                else:
                    await self.client.commit()
        finally:
            get_connections().reset(self.token)
            await self._held.__aexit__(None, None, None)


@asynccontextmanager
async def writer() -> AsyncIterator[BaseDBAsyncClient]:
    """The connection for a write made while a query runs (`using_db(...)`): the pool, never
    the query's read-only `Session`; outside a query, and on SQLite, the current connection.

    The session first gives its connection back, and its other statements wait for the block's
    end (then take one again): a query never holds a pooled connection while it waits for
    another, which could deadlock once every pooled connection is some session's."""
    client = get_connections().get("default")
    if not isinstance(client, Session) or client._closed:
        yield client
        return
    async with client._lock:
        pooled = client._let_go()
        if pooled is not None:
            await pooled.__aexit__(None, None, None)
        yield client._client


client_class = Client  # what Tortoise looks up in an `engine` module
