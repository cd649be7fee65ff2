"""A span per SQL statement (`core.tracing.sql_span`), for both engines' clients and
transactions: the statement's text, never its parameters (they travel apart from the text, and
the span is never given them). With tracing off each statement pays one attribute read.

BEGIN, COMMIT and ROLLBACK, and asyncpg's reset of a connection given back to the pool, are
not Tortoise statements and have no span.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core import tracing


class TracedStatements(BaseDBAsyncClient):
    """Put first among a client class's bases: its `execute_*` wrap the engine's own."""

    db_system = "sql"

    async def execute_query(self, query: str, values: list | None = None) -> Any:
        if not tracing.enabled():
            return await super().execute_query(query, values)
        with tracing.sql_span(query, self.db_system):
            return await super().execute_query(query, values)

    async def execute_query_dict(self, query: str, values: list | None = None) -> Any:
        if not tracing.enabled():
            return await super().execute_query_dict(query, values)
        with tracing.sql_span(query, self.db_system):
            return await super().execute_query_dict(query, values)

    async def execute_insert(self, query: str, values: list) -> Any:
        if not tracing.enabled():
            return await super().execute_insert(query, values)
        with tracing.sql_span(query, self.db_system):
            return await super().execute_insert(query, values)

    async def execute_many(self, query: str, values: list) -> None:
        if not tracing.enabled():
            return await super().execute_many(query, values)
        with tracing.sql_span(query, self.db_system):
            return await super().execute_many(query, values)

    async def execute_script(self, query: str) -> None:
        if not tracing.enabled():
            return await super().execute_script(query)
        with tracing.sql_span(query, self.db_system):
            return await super().execute_script(query)
