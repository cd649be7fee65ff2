"""Fixtures for the backup tests: the orgs "acme" (`team`) and "globex" (`rival`), a person
("Grace") in acme's CRM, a job worker the test runs itself, and the backup directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.settings import Settings
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return dataclasses.replace(settings, backup_dir=tmp_path / "backups", jobs_in_process=False,
                               jobs_retry_wait=0, jobs_max_attempts=2)


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="g.")
