"""The outbound settings: WEBHOOK_ALLOW_LOOPBACK is for tests and development, and production
refuses to start with it; WEBHOOK_PORTS is a list of real ports."""

from __future__ import annotations

import pytest

from core.settings import ConfigurationError, Settings
from tests.test_settings import PRODUCTION

pytestmark = pytest.mark.no_db


def test_defaults_allow_https_on_443_to_public_addresses_only() -> None:
    settings = Settings.from_env({})
    assert settings.webhook_allow_loopback is False and settings.webhook_ports == (443,)
    assert Settings.from_env(PRODUCTION).webhook_allow_loopback is False


def test_production_refuses_the_loopback_setting() -> None:
    for value in ("true", "1", "on"):
        with pytest.raises(ConfigurationError, match="WEBHOOK_ALLOW_LOOPBACK"):
            Settings.from_env({**PRODUCTION, "WEBHOOK_ALLOW_LOOPBACK": value})
    assert Settings.from_env({**PRODUCTION, "WEBHOOK_ALLOW_LOOPBACK": "false"}) \
        .webhook_allow_loopback is False
    for env in ("development", "test"):
        assert Settings.from_env({"RELLEKS_ENV": env, "WEBHOOK_ALLOW_LOOPBACK": "true"}) \
            .webhook_allow_loopback is True


def test_webhook_ports_are_read_and_checked() -> None:
    assert Settings.from_env({"WEBHOOK_PORTS": "443, 8443"}).webhook_ports == (443, 8443)
    for bad in ("https", "443,0", "70000", ","):
        with pytest.raises(ConfigurationError, match="WEBHOOK_PORTS"):
            Settings.from_env({"WEBHOOK_PORTS": bad})
