"""The URLs the backup tools hand to libpq (pg_dump, pg_restore) and asyncpg keep TLS."""

from __future__ import annotations

import pytest

from database.backups import asyncpg_url, libpq_url, with_database

pytestmark = pytest.mark.no_db


def test_libpq_gets_sslmode_and_nothing_tortoise_only() -> None:
    assert libpq_url("postgres://u:p@db:5432/relleks?maxsize=9&sslmode=verify-full") \
        == "postgresql://u:p@db:5432/relleks?sslmode=verify-full"
    assert libpq_url("postgres://u@db/relleks?ssl=require&statement_cache_size=0") \
        == "postgresql://u@db/relleks?sslmode=require"
    assert libpq_url("postgres://u@db/relleks") == "postgresql://u@db/relleks"


def test_asyncpg_gets_ssl() -> None:
    assert asyncpg_url("postgres://u@db/relleks?sslmode=verify-ca") == (
        "postgresql://u@db/relleks", {"ssl": "verify-ca"})
    assert asyncpg_url("postgres://u@db/relleks") == ("postgresql://u@db/relleks", {})


def test_a_scratch_database_keeps_the_server_and_its_tls() -> None:
    assert with_database("postgres://u@db:5432/relleks?sslmode=require", "relleks_drill_1") \
        == "postgres://u@db:5432/relleks_drill_1?sslmode=require"
