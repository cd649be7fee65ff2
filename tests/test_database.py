"""`database.one_connection`: a read-only operation's statements on one pooled connection
(`database.asyncpg_client.Session`), concurrent statements taking turns, transactions on that same
connection, and the pool again once the block is over."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
import pytest
from tortoise import connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.transactions import in_transaction

from core.settings import Settings
from database import one_connection
from database.asyncpg_client import Client, Session, writer
from models.orgs import Role
from tests.conftest import TEST_DB, Api, count_sql
from tests.leads.test_query_count import Q1, populate
from tests.orgs.conftest import make_team


async def backend_ids(count: int) -> set[object]:
    """Which server process ran each of `count` concurrent statements (PostgreSQL)."""
    db = connections.get("default")
    answers = await asyncio.gather(*(db.execute_query("SELECT pg_backend_pid() AS pid")
                                     for _ in range(count)))
    return {rows[0]["pid"] for _, rows in answers}


async def test_a_block_runs_its_statements_on_one_connection(database_url: str) -> None:
    async with one_connection():
        db = connections.get("default")
        if TEST_DB == "postgres":
            assert isinstance(db, Session)
            assert len(await backend_ids(8)) == 1
        _, rows = await db.execute_query("SELECT 1 AS one")
        assert rows[0]["one"] == 1
    assert not isinstance(connections.get("default"), Session)
    _, rows = await connections.get("default").execute_query("SELECT 2 AS two")
    assert rows[0]["two"] == 2


async def test_transactions_in_a_block_commit_and_roll_back(database_url: str) -> None:
    async with one_connection():
        db = connections.get("default")
        await db.execute_script("CREATE TEMPORARY TABLE kept (x INTEGER)")
        async with in_transaction("default"):
            await connections.get("default").execute_query("INSERT INTO kept VALUES (1)")
        with pytest.raises(RuntimeError):
            async with in_transaction("default"):
                await connections.get("default").execute_query("INSERT INTO kept VALUES (2)")
                raise RuntimeError("undo")
        _, rows = await db.execute_query("SELECT x FROM kept")
        assert [row["x"] for row in rows] == [1]  # the same connection sees its temporary table
        await db.execute_script("DROP TABLE kept")


async def test_a_transaction_in_a_block_needs_no_second_connection(database_url: str) -> None:
    """With every pooled connection held by a block, a transaction inside one must not wait for
    another connection: it would wait forever."""
    if TEST_DB != "postgres":
        pytest.skip("SQLite has a single connection and no pool")
    credentials = expand_db_url(database_url)["credentials"]
    small = Client(connection_name="default", **{**credentials, "minsize": 1, "maxsize": 1})
    token = connections.set("default", small)
    try:
        async with one_connection():
            assert await backend_ids(2)  # the block now holds the pool's only connection

            async def transaction() -> int:
                async with in_transaction("default") as tx:
                    _, rows = await tx.execute_query("SELECT 41 + 1 AS answer")
                    return int(rows[0]["answer"])

            assert await asyncio.wait_for(transaction(), timeout=10) == 42
        # Given back: the pool serves statements again.
        _, rows = await small.execute_query("SELECT 3 AS three")
        assert rows[0]["three"] == 3
    finally:
        connections.reset(token)
        await small.close()


async def test_a_write_in_a_block_goes_around_it_and_needs_no_second_connection(
        database_url: str) -> None:
    """`writer()` in a block: the write does not run on the block's connection, and with the
    pool's only connection held by the block it does not wait forever for another one."""
    if TEST_DB != "postgres":
        pytest.skip("SQLite has a single connection and no pool")
    credentials = expand_db_url(database_url)["credentials"]
    small = Client(connection_name="default", **{**credentials, "minsize": 1, "maxsize": 1})
    token = connections.set("default", small)
    try:
        async with one_connection():
            session = connections.get("default")
            assert await backend_ids(2)  # the block now holds the pool's only connection

            async def write() -> object:
                async with writer() as db:
                    assert db is small and db is not session
                    _, rows = await db.execute_query("SELECT 41 + 1 AS answer")
                    return rows[0]["answer"]

            assert await asyncio.wait_for(write(), timeout=10) == 42
            assert await asyncio.wait_for(backend_ids(2), timeout=10)  # the block reads again
        _, rows = await small.execute_query("SELECT 3 AS three")
        assert rows[0]["three"] == 3
    finally:
        connections.reset(token)
        await small.close()


async def test_a_graphql_query_over_http_gives_back_one_connection(
        api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the schema (`engine.extensions.OneConnectionPerQuery`): Q1's statements after
    the sign-in share one connection, so the pool takes back two connections (the sign-in's and
    the query's), not one per statement."""
    if TEST_DB != "postgres":
        pytest.skip("SQLite has a single connection and no pool")
    team = await make_team(api, settings, "pool", prefix="p.")
    await populate(settings, team, 5)
    token = team.people[Role.MEMBER].token
    assert "errors" not in await api.gql(Q1, {"slug": team.slug}, token=token)  # warm
    released = 0
    release = asyncpg.Pool.release

    async def counted(pool: asyncpg.Pool, *args: Any, **kwargs: Any) -> None:
        nonlocal released
        released += 1
        await release(pool, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Pool, "release", counted)
    with count_sql() as sql:
        body = await api.gql(Q1, {"slug": team.slug}, token=token)
    assert len(body["data"]["organization"]["leads"]["nodes"]) == 5
    assert sql.count >= 5 and released == 2, (sql.statements, released)


async def last_query(database_url: str, pid: int) -> str:
    """What the server process `pid` ran last, as PostgreSQL itself reports it (asked on a
    connection of the test's own, outside the pool)."""
    connection = await asyncpg.connect(database_url)
    try:
        return str(await connection.fetchval(
            "SELECT query FROM pg_stat_activity WHERE pid = $1", pid))
    finally:
        await connection.close()


async def session_backend() -> int:
    _, rows = await connections.get("default").execute_query("SELECT pg_backend_pid() AS pid")
    return int(rows[0]["pid"])


async def test_a_clean_session_skips_the_reset_and_a_failed_one_gets_it(
        database_url: str) -> None:
    """A connection goes back to the pool without asyncpg's reset query when every statement
    ran to its end (they leave nothing to reset: the query was two round trips a request); a
    statement that failed, or was cancelled midway (what the reset exists for), or a
    transaction, gets it."""
    if TEST_DB != "postgres":
        pytest.skip("SQLite has no pool and nothing to reset")
    async with one_connection():
        pid = await session_backend()
        await connections.get("default").execute_query("SELECT 'a clean read' AS what")
    assert "a clean read" in await last_query(database_url, pid)  # no reset query ran after it
    async with one_connection():
        pid = await session_backend()
        with pytest.raises(Exception, match="division by zero"):
            await connections.get("default").execute_query("SELECT 1 / 0")
    assert "RESET ALL" in await last_query(database_url, pid)
    async with one_connection():
        pid = await session_backend()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await connections.get("default").execute_query("SELECT pg_sleep(5)")
    for _ in range(50):  # the pool waits for the cancellation to end, then resets
        if "RESET ALL" in await last_query(database_url, pid):
            break
        await asyncio.sleep(0.1)
    assert "RESET ALL" in await last_query(database_url, pid)
    async with one_connection():
        pid = await session_backend()
        async with in_transaction("default"):
            await connections.get("default").execute_query("SELECT 'in a transaction'")
    assert "RESET ALL" in await last_query(database_url, pid)
    # One statement outside a session (a request's sign-in): the same, clean or failed.
    pid = await session_backend()
    assert "pg_backend_pid" in await last_query(database_url, pid)
    with pytest.raises(Exception, match=r"failed in \d+") as failed:
        await connections.get("default").execute_script(
            "DO $$ BEGIN RAISE EXCEPTION 'failed in %', pg_backend_pid(); END $$")
    named = re.search(r"failed in (\d+)", str(failed.value))
    assert named is not None
    pid = int(named.group(1))
    assert "RESET ALL" in await last_query(database_url, pid)
