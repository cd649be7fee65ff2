"""Job settings from the environment, and the database URL procrastinate gets."""

from __future__ import annotations

import pytest

from core.settings import ConfigurationError, Settings
from database.queue_tables import libpq_url

PG = "postgres://app:secret@db.internal:5432/relleks"


@pytest.mark.no_db
def test_job_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"ACCOUNT_DELETION_GRACE_DAYS": "30", "EXPORT_TTL_HOURS": "24",
                                  "JOBS_MAX_ATTEMPTS": "7", "JOBS_RETRY_WAIT": "2",
                                  "JOBS_LEASE": "120", "DATABASE_URL": PG,
                                  "JOBS_IN_PROCESS": "true"})
    assert (settings.account_deletion_grace_days, settings.export_ttl_hours,
            settings.jobs_max_attempts, settings.jobs_retry_wait, settings.jobs_lease) == \
        (30, 24, 7, 2, 120)
    assert settings.run_jobs_in_process


@pytest.mark.no_db
def test_the_worker_runs_in_process_on_sqlite_and_apart_on_postgres_by_default() -> None:
    assert Settings.from_env({}).run_jobs_in_process
    assert Settings.from_env({"ACCOUNT_DELETION_GRACE_DAYS": "14"}).account_deletion_grace_days \
        == 14
    assert not Settings.from_env({"DATABASE_URL": PG}).run_jobs_in_process
    with pytest.raises(ConfigurationError, match="JOBS_IN_PROCESS"):
        Settings.from_env({"JOBS_IN_PROCESS": "false"})
    with pytest.raises(ConfigurationError, match="GRACE_DAYS"):
        Settings.from_env({"ACCOUNT_DELETION_GRACE_DAYS": "-1"})


@pytest.mark.no_db
def test_procrastinate_gets_a_libpq_url_without_tortoise_options() -> None:
    assert libpq_url(PG + "?maxsize=20&statement_cache_size=0&sslmode=require") == \
        "postgresql://app:secret@db.internal:5432/relleks?sslmode=require"
