"""Fixtures for the job tests: those of tests/privacy (mail, Stripe fake, a worker the test
runs itself), and a way to empty the job queue as a restart or a lost job would."""

from __future__ import annotations

from typing import Any

from procrastinate.testing import InMemoryConnector
from tortoise import connections

from tests.billing.conftest import stripe, stripe_server  # noqa: F401
from tests.privacy.conftest import services_of, settings, team  # noqa: F401


async def lose_queued_jobs(app: Any) -> None:
    """Drop every queued job: what a restart does to the in-memory queue, or what a lost
    job looks like on PostgreSQL."""
    connector = services_of(app).jobs.app.connector
    if isinstance(connector, InMemoryConnector):
        connector.reset()
    else:
        await connections.get("default").execute_script("DELETE FROM procrastinate_jobs")
