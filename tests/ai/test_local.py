"""With no provider configured outside production, the built-in local provider answers,
labelled as such, through the same mutations, storage and metering."""

from __future__ import annotations

import dataclasses

import pytest

from core.settings import Settings
from models.orgs import Role
from services.ai import LOCAL_LABEL, LOCAL_MODEL
from tests.ai.conftest import DRAFT, NEXT_STEPS, SUMMARY, finished, lead_of
from tests.conftest import Api
from tests.orgs.conftest import Team


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ai_base_url=None, ai_model=None, ai_api_key=None)


async def test_the_local_provider_answers_labelled(api: Api, team: Team) -> None:
    admin = team.people[Role.ADMIN].token
    lead = await lead_of(api, team, company="Navy", email="grace@navy.example")
    summary = await api.gql(SUMMARY, {"lead": lead}, token=admin)
    done = await finished(api, summary["data"]["generateLeadSummary"]["generation"]["id"],
                          admin, provenance=True)
    assert done["status"] == "SUCCEEDED" and done["text"].startswith(LOCAL_LABEL)
    assert "Grace Hopper at Navy" in done["text"] and "grace@navy.example" not in done["text"]
    assert (done["provenance"]["provider"], done["provenance"]["model"]) == ("local", LOCAL_MODEL)
    assert done["provenance"]["creditsCharged"] == 1
    steps = await api.gql(NEXT_STEPS, {"lead": lead}, token=admin)
    done = await finished(api, steps["data"]["suggestNextSteps"]["generation"]["id"], admin)
    assert done["status"] == "SUCCEEDED", done
    assert 1 <= len(done["nextSteps"]) <= 3 and done["nextSteps"][0]["action"]
    draft = await api.gql(DRAFT, {"lead": lead, "purpose": "the demo next week"}, token=admin)
    done = await finished(api, draft["data"]["draftEmail"]["generation"]["id"], admin)
    assert done["status"] == "SUCCEEDED" and "the demo next week" in done["text"]
