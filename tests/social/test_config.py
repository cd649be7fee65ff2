"""Social sign-in configuration: providers from the environment, disabled without credentials,
and no plain-http provider URL in production."""

from __future__ import annotations

import pytest

from auth.social import SocialProviders
from core.settings import ConfigurationError, Settings
from models.social import SocialProvider
from tests.production_env import PRODUCTION

pytestmark = pytest.mark.no_db



def test_providers_come_from_the_environment() -> None:
    settings = Settings.from_env({
        "GOOGLE_CLIENT_ID": "gid", "GOOGLE_CLIENT_SECRET": "gsecret",
        "GITHUB_CLIENT_ID": "hid",  # no secret: disabled
        "PUBLIC_URL": "https://crm.example.com"})
    providers = SocialProviders(settings)
    assert providers.enabled(SocialProvider.GOOGLE)
    assert not providers.enabled(SocialProvider.GITHUB)
    assert providers.callback_url(SocialProvider.GOOGLE) == \
        "https://crm.example.com/auth/google/callback"
    assert settings.google_discovery_url == \
        "https://accounts.google.com/.well-known/openid-configuration"
    assert (settings.github_oauth_url, settings.github_api_url) == \
        ("https://github.com", "https://api.github.com")
    assert not SocialProviders(Settings.from_env({})).enabled(SocialProvider.GOOGLE)


@pytest.mark.parametrize("variable", ["GOOGLE_DISCOVERY_URL", "GITHUB_OAUTH_URL",
                                      "GITHUB_API_URL"])
def test_production_refuses_plain_http_provider_urls(variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({**PRODUCTION, variable: "http://127.0.0.1:9999"})
