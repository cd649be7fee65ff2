"""The job queue's tables: procrastinate's schema on PostgreSQL, created at migrate time.

`services/queue.py` runs the queue; it connects with psycopg, which needs a libpq URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import procrastinate

# Tortoise options in DATABASE_URL that libpq does not know.
_TORTOISE_ONLY = {"maxsize", "minsize", "statement_cache_size", "max_cached_statement_lifetime",
                  "max_cacheable_statement_size", "ssl"}


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgres:", "postgresql:", "asyncpg:"))


def libpq_url(database_url: str) -> str:
    """The Tortoise `DATABASE_URL` as a libpq connection URL for psycopg."""
    parts = urlsplit(database_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _TORTOISE_ONLY]
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))


async def apply_schema(database_url: str) -> None:
    """Create procrastinate's tables on PostgreSQL once (at migrate time). SQLite needs none."""
    if not is_postgres(database_url):
        return
    import psycopg

    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as connection:
        cursor = await connection.execute("SELECT to_regclass('procrastinate_jobs')")
        row = await cursor.fetchone()
        if row and row[0] is not None:
            return
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url), min_size=1, max_size=1))
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
