"""Production without an AI provider answers UNAVAILABLE (the local provider is for
development only) and writes nothing."""

from __future__ import annotations

import dataclasses

import pytest

from core.settings import Settings
from models.ai import AiGeneration
from models.orgs import Role
from models.tenancy import EVERY_ORG, system_scope
from tests.ai.conftest import SUMMARY, lead_of
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, env="production", ai_base_url=None, ai_model=None,
                               ai_api_key=None, cookie_secure=False)


async def test_production_without_a_provider_is_unavailable(api: Api, team: Team) -> None:
    lead = await lead_of(api, team)
    body = await api.gql(SUMMARY, {"lead": lead}, token=team.people[Role.MEMBER].token)
    assert error_code(body) == "UNAVAILABLE"
    assert errors_of(body)[0]["extensions"]["reason"] == "AI_NOT_CONFIGURED"
    assert await system_scope(EVERY_ORG, reason="test").scoped(AiGeneration).count() == 0
