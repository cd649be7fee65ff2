"""DATABASE_POOLER and JOBS_DATABASE_URL: what each connection does behind a transaction pooler,
and the configurations refused at start-up (a job worker cannot LISTEN through one)."""

from __future__ import annotations

import pytest

from core.settings import ConfigurationError, Settings
from database import tortoise_config
from jobs import worker

PG = "postgres://app@db.internal:6432/relleks"
DIRECT = "postgres://app@db.internal:5432/relleks"


def test_transaction_pooling_turns_off_asyncpg_statement_cache() -> None:
    pooled = tortoise_config(PG, pooler="transaction")["connections"]
    for name in ("default", "keystore"):
        assert pooled[name]["credentials"]["statement_cache_size"] == 0
    direct = tortoise_config(PG)["connections"]
    assert "statement_cache_size" not in direct["default"]["credentials"]
    # SQLite has no statements to cache across connections: nothing changes.
    assert tortoise_config("sqlite://:memory:", pooler="transaction")["connections"][
        "default"]["engine"] == "database.sqlite"


def test_the_queue_goes_where_jobs_database_url_says() -> None:
    settings = Settings.from_env({"DATABASE_URL": PG, "DATABASE_POOLER": "transaction",
                                  "JOBS_DATABASE_URL": DIRECT})
    assert (settings.queue_database_url, settings.queue_through_pooler) == (DIRECT, False)
    alone = Settings.from_env({"DATABASE_URL": PG, "DATABASE_POOLER": "transaction"})
    assert (alone.queue_database_url, alone.queue_through_pooler) == (PG, True)
    assert Settings.from_env({"DATABASE_URL": PG}).queue_through_pooler is False


def test_sslmode_reaches_the_jobs_database_too() -> None:
    settings = Settings.from_env({"DATABASE_URL": PG, "JOBS_DATABASE_URL": DIRECT,
                                  "DATABASE_SSLMODE": "verify-full"})
    assert settings.jobs_database_url == f"{DIRECT}?sslmode=verify-full"
    plain = Settings.from_env({"DATABASE_URL": f"{PG}?sslmode=require",
                               "JOBS_DATABASE_URL": DIRECT})
    assert any(item.startswith("JOBS_DATABASE_URL") for item in plain.plaintext_connections())


@pytest.mark.parametrize(("environ", "message"), [
    ({"DATABASE_URL": PG, "DATABASE_POOLER": "statement"}, "DATABASE_POOLER must be"),
    ({"DATABASE_URL": PG, "DATABASE_POOLER": "transaction", "JOBS_IN_PROCESS": "true"},
     "needs JOBS_DATABASE_URL"),
    ({"DATABASE_URL": PG, "JOBS_DATABASE_URL": "sqlite://jobs.sqlite3"},
     "JOBS_DATABASE_URL must be a PostgreSQL URL"),
])
def test_impossible_configurations_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(environ)


def test_in_process_jobs_with_a_direct_queue_are_fine() -> None:
    settings = Settings.from_env({"DATABASE_URL": PG, "DATABASE_POOLER": "transaction",
                                  "JOBS_IN_PROCESS": "true", "JOBS_DATABASE_URL": DIRECT})
    assert settings.run_jobs_in_process


async def test_a_worker_refuses_to_listen_through_the_pooler(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setenv("DATABASE_POOLER", "transaction")
    monkeypatch.delenv("JOBS_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="needs JOBS_DATABASE_URL"):
        await worker.main(concurrency=1)
