"""Fixtures of the encryption tests: the leads' teams, and the raw database as it is stored."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections

from tests.conftest import TEST_DB
from tests.leads.conftest import rival, team  # noqa: F401 (fixtures)


def relleks_tables() -> list[str]:
    return [model._meta.db_table for model in Tortoise.apps["relleks"].values()]


async def raw_rows(table: str) -> list[dict[str, Any]]:
    """Every row of `table` as the database holds it, by plain SQL (no model, no decryption)."""
    db = connections.get("default")
    _, rows = await db.execute_query(f'SELECT * FROM "{table}"')
    return [dict(row) for row in rows]


async def raw_bytes(database_url: str) -> bytes:
    """What an attacker holding the data (not the keystore) reads: on SQLite the database file
    and its WAL, byte for byte; on PostgreSQL every row of every table, as text."""
    if TEST_DB == "sqlite":
        path = Path(database_url.removeprefix("sqlite://"))
        files = [str(p) for p in (path, Path(f"{path}-wal")) if p.exists()]
        # Read by another process: closing any descriptor of the file in this one would drop
        # the POSIX locks of this process's SQLite connection (fcntl locks are per process).
        # A server process closing its own connection then believes it is the last one,
        # checkpoints and deletes the WAL, and this process's later writes go to the deleted
        # file, unseen by every server the realtime tests start.
        cat = await asyncio.create_subprocess_exec("cat", *files, stdout=PIPE)
        stored, _ = await cat.communicate()
        assert cat.returncode == 0
        return stored
    parts = [repr(await raw_rows(table)) for table in relleks_tables()]
    return "\n".join(parts).encode()


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """A copy of the data (every table of the data database, not the keystore): a backup."""
    return {table: await raw_rows(table) for table in relleks_tables()}


async def restore(copy: dict[str, list[dict[str, Any]]]) -> None:
    """The data replaced by `copy`, foreign keys unchecked while it is written: a restore of
    that backup, with the keystore as it is NOW."""
    db = connections.get("default")
    postgres = db.capabilities.dialect == "postgres"
    if not postgres:  # SQLite's single connection: no foreign keys (nor cascades) meanwhile
        await db.execute_script("PRAGMA foreign_keys = OFF")
    try:
        await _write(db, postgres, copy)
    finally:
        if not postgres:
            await db.execute_script("PRAGMA foreign_keys = ON")


async def _write(db: Any, postgres: bool, copy: dict[str, list[dict[str, Any]]]) -> None:
    async with db._in_transaction() as tx:
        if postgres:  # no foreign key checks nor cascades in this transaction
            await tx.execute_script("SET LOCAL session_replication_role = replica")
        for table, rows in copy.items():
            await tx.execute_script(f'DELETE FROM "{table}"')
            for row in rows:
                columns = list(row)
                marks = ", ".join(f"${i}" if postgres else "?"
                                  for i in range(1, len(columns) + 1))
                names = ", ".join(f'"{c}"' for c in columns)
                await tx.execute_query(f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                                       list(row.values()))
