"""Fixtures for the usage analytics tests: "acme" (OWNER, ADMIN, MEMBER, VIEWER) on the PRO plan
and "globex", another org; the periodic flush is slowed down so that each test flushes the
counters itself (`app.state.services.usage.flush()`), and the client-events budget is small.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.settings import Settings
from models.tenancy import EVERY_ORG, system_scope
from models.usage import UsageDay, UsageOperationDay
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.tokens.conftest import subscribe

CLIENT_EVENTS_RATE = 3

USAGE = """query($slug: String!, $from: Date!, $to: Date!) {
  organization(slug: $slug) { usage(from: $from, to: $to) {
    from to
    days { day requests errors cost pageViews clientErrors
           byKind { kind requests errors cost } }
    clients { kind clientId name requests errors cost }
    topOperations { name count errors }
    topPages { name count errors }
  } } }"""
RECORD = """mutation($input: RecordClientEventsInput!) {
  recordClientEvents(input: $input) { recorded } }"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, usage_flush_seconds=3600.0,
                               client_events_rate_per_session=f"{CLIENT_EVENTS_RATE}/minute")


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    team = await make_team(api, settings, "acme")
    await subscribe(team.org)
    return team


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="rival.")


async def fresh_counts(app: Any) -> None:
    """Flush what the fixtures' requests counted and forget it: a test counts its own."""
    await app.state.services.usage.flush()
    sweep = system_scope(EVERY_ORG, reason="tests: starting from no usage")
    await sweep.scoped(UsageDay).delete()
    await sweep.scoped(UsageOperationDay).delete()
