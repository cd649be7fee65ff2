"""The compiled operations' tests: Q1, a small plan cache (and memory of texts answered
directly), and a team with five leads and their notes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import Settings
from models.leads import Lead, Note
from models.orgs import Role
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team
from tests.tokens.conftest import subscribe

Q1 = (Path(__file__).parents[2] / "bench" / "q1.graphql").read_text()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small plan cache and memory of texts answered directly, to see their bounds."""
    return dataclasses.replace(settings, compiled_operations_max=8)


async def populate(team: Team) -> None:
    """Five leads (one restricted) with two notes each, owned and written by the team."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    member = team.people[Role.MEMBER].user
    for i in range(5):
        lead = await Lead.create(organization_id=team.org.id, name=f"Lead {i}",
                                 email=f"lead{i}@example.com", phone=f"+1415555000{i}",
                                 owner_id=member.id if i % 2 else None, restricted=i == 4)
        await Lead._scoped(team.org.id).filter(id=lead.id).update(
            created_at=start + timedelta(seconds=i))
        for n in range(2):
            note = await Note.create(organization_id=team.org.id, lead_id=lead.id,
                                     author_id=member.id, body=f"Note {n} on {i}")
            await Note._scoped(team.org.id).filter(id=note.id).update(
                created_at=start + timedelta(seconds=i, milliseconds=n))


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    team = await make_team(api, settings, "acme")
    await subscribe(team.org)
    await populate(team)
    return team


