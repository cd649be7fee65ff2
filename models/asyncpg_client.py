"""The PostgreSQL engine for our models: Tortoise's asyncpg client, building rows with
`models.rows` (in and out of transactions). `database.py` names this module as the `engine` of
PostgreSQL URLs; Tortoise picks the migration schema editor by the client's module name, which
is why the module's name says asyncpg."""

from __future__ import annotations

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.asyncpg.executor import AsyncpgExecutor
from tortoise.backends.base.client import (
    NestedTransactionContext,
    TransactionContext,
    TransactionContextPooled,
)

from models.rows import FastSelectExecutor


class Executor(FastSelectExecutor, AsyncpgExecutor):
    pass


class Transaction(TransactionWrapper):
    executor_class = Executor

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(Transaction(self))


class Client(AsyncpgDBClient):
    executor_class = Executor

    def _in_transaction(self) -> TransactionContext:
        return TransactionContextPooled(Transaction(self), self._pool_init_lock)


client_class = Client  # what Tortoise looks up in an `engine` module
