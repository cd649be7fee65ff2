"""Fixtures for the policy tests: a deployment whose policy version is newer than the one the
existing users accepted, and mail through the local SMTP server."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from core.settings import Settings
from models.accounts import User
from services import Services
from tests.orgs.conftest import Person, signed_in
from tests.smtp import Inbox

OLD = "2026-11-01"
NEW = "2027-01-15"


@pytest.fixture
def settings(settings: Settings, smtp_server: tuple[Inbox, int]) -> Settings:
    """Version NEW is in force, published at its own URL; mail goes to the local server."""
    return dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}",
                               terms_version=NEW, terms_url="https://relleks.test/legal/2027")


async def old_user(settings: Settings, email: str, name: str = "Olde User") -> Person:
    """A user who accepted OLD (before NEW came out)."""
    person = await signed_in(settings, email, name)
    await User.filter(id=person.user.id).update(terms_version=OLD,
                                                terms_accepted_at=datetime(2026, 11, 2, tzinfo=UTC))
    person.user.terms_version = OLD
    return person


@pytest.fixture
def services(app: Any) -> Services:
    return app.state.services
