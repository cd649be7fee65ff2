"""The database engines count connections in use and the waits for one: PostgreSQL's pool (a
pool of one, held) and SQLite's single connection (its lock, held)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url

from database.asyncpg_client import Client
from tests.conftest import TEST_DB

ENGINE = "postgresql" if TEST_DB == "postgres" else "sqlite"


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"engine": ENGINE}) or 0.0


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[BaseDBAsyncClient]:
    """On PostgreSQL a client whose pool has one connection; on SQLite the one client."""
    if TEST_DB != "postgres":
        yield connections.get("default")
        return
    credentials = expand_db_url(database_url)["credentials"]
    small = Client(connection_name="metrics", **{**credentials, "minsize": 1, "maxsize": 1})
    try:
        yield small
    finally:
        await small.close()


async def test_in_use_and_waits(client: BaseDBAsyncClient) -> None:
    await client.execute_query("SELECT 1")  # the pool exists
    in_use, waits = sample("relleks_db_connections_in_use"), sample("relleks_db_pool_waits_total")
    taken = sample("relleks_db_pool_acquire_seconds_count")
    async with client.acquire_connection():
        assert sample("relleks_db_connections_in_use") == in_use + 1
        waiting = asyncio.create_task(client.execute_query("SELECT 2"))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # it waits for the connection held here
        assert sample("relleks_db_pool_waits_total") == waits + 1
    await asyncio.wait_for(waiting, 10)
    assert sample("relleks_db_connections_in_use") == in_use
    assert sample("relleks_db_pool_acquire_seconds_count") == taken + 2
    assert sample("relleks_db_pool_acquire_seconds_sum") > 0
