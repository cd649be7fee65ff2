"""Which provider a configuration gives, and the AI settings' checks."""

from __future__ import annotations

import pytest

from core.settings import ConfigurationError, Settings
from services.ai import LocalProvider, OpenAiCompatibleProvider, provider_from_settings
from tests.production_env import PRODUCTION

pytestmark = pytest.mark.no_db
AI = {"AI_BASE_URL": "https://ai.example.test/v1", "AI_MODEL": "gpt-test",
      "AI_API_KEY": "sk-live-secret-value", "AI_TIMEOUT_SECONDS": "12.5"}


@pytest.mark.parametrize("env", ["development", "test"])
def test_outside_production_nothing_configured_is_the_local_provider(env: str) -> None:
    assert isinstance(provider_from_settings(Settings.from_env({"RELLEKS_ENV": env})),
                      LocalProvider)


def test_production_without_a_provider_has_none() -> None:
    assert provider_from_settings(Settings.from_env(PRODUCTION)) is None


@pytest.mark.parametrize("env", [{"RELLEKS_ENV": "development"}, {"RELLEKS_ENV": "test"},
                                 PRODUCTION])
def test_a_configured_provider_is_used_everywhere(env: dict[str, str]) -> None:
    settings = Settings.from_env({**env, **AI})
    assert (settings.ai_timeout_seconds, settings.ai_model) == (12.5, "gpt-test")
    provider = provider_from_settings(settings)
    assert isinstance(provider, OpenAiCompatibleProvider)
    assert (provider.name, provider.model, provider.is_local) == (
        "openai-compatible", "gpt-test", False)


def test_the_key_is_optional_for_a_self_hosted_server() -> None:
    settings = Settings.from_env({"AI_BASE_URL": "http://127.0.0.1:11434/v1",
                                  "AI_MODEL": "llama3.2"})
    assert settings.ai_api_key is None
    assert isinstance(provider_from_settings(settings), OpenAiCompatibleProvider)


def test_the_key_is_never_shown() -> None:
    settings = Settings.from_env(AI)
    provider = provider_from_settings(settings)
    assert "sk-live-secret-value" not in repr(settings)
    assert "sk-live-secret-value" not in repr(provider)


@pytest.mark.parametrize(("env", "message"), [
    ({"AI_BASE_URL": "https://ai.example.test/v1"}, "go together"),
    ({"AI_MODEL": "gpt-test"}, "go together"),
    ({**AI, "AI_BASE_URL": "ai.example.test/v1"}, "http:// or https://"),
    ({**AI, "AI_TIMEOUT_SECONDS": "0"}, "AI_TIMEOUT_SECONDS"),
    ({**AI, "AI_TIMEOUT_SECONDS": "601"}, "AI_TIMEOUT_SECONDS"),
])
def test_incomplete_or_impossible_configurations_are_refused(
        env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)
