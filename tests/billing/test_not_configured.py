"""Without Stripe keys (`make run` out of the box): billing mutations answer "billing is not
configured" and change nothing, every org is on FREE, the webhook refuses; and the settings that
configure billing, read from the environment."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from core.settings import ConfigurationError, Settings
from models.orgs import Role
from tests.billing.conftest import (
    OPEN_PORTAL,
    STRIPE_SETTINGS,
    billing_events,
    billing_of,
    billing_state,
    post_webhook,
    signature,
    start_checkout,
)
from tests.conftest import Api, errors_of
from tests.orgs.conftest import Team

UNSET = {name: None for name in STRIPE_SETTINGS if name.startswith("stripe_price_")} | {
    "stripe_secret_key": None, "stripe_webhook_secret": None}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, **UNSET)


async def test_billing_mutations_say_billing_is_not_configured(api: Api, team: Team) -> None:
    before = await billing_state(team.org)
    for body in (await start_checkout(api, team),
                 await api.gql(OPEN_PORTAL, {"id": team.org_id},
                               token=team.people[Role.OWNER].token)):
        (error,) = errors_of(body)
        assert error["extensions"] == {"code": "UNAVAILABLE", "reason": "BILLING_NOT_CONFIGURED"}
        assert error["message"].startswith("Billing is not configured on this server")
        assert "nothing was changed" in error["message"]
    assert await billing_state(team.org) == before
    assert await billing_events(team.org) == []


async def test_the_permission_check_still_comes_first(api: Api, team: Team) -> None:
    before = await billing_state(team.org)
    body = await start_checkout(api, team, role=Role.ADMIN)
    assert errors_of(body)[0]["extensions"]["code"] == "FORBIDDEN"
    assert await billing_state(team.org) == before


async def test_every_org_is_on_free(api: Api, team: Team) -> None:
    billing = await billing_of(api, team)
    assert billing == {
        "plan": "FREE", "subscribedPlan": None, "status": "NONE", "interval": None,
        "currentPeriodEnd": None, "cancelAtPeriodEnd": False, "trialEndsAt": None,
        "inGracePeriod": False, "hasCustomer": False,
        "limits": {"members": 10, "leads": 1_000, "partnerTokens": 2, "aiCreditsPerMonth": 0},
        "usage": {"members": 4, "leads": 0},
        "invoices": {"totalCount": 0, "nodes": []},
    }
    body = await api.gql("{ plans { code prices { stripePriceId } } }")
    assert all(plan["prices"] == [] for plan in body["data"]["plans"])


async def test_the_webhook_refuses_without_a_secret(http: httpx.AsyncClient,
                                                    team: Team) -> None:
    before = await billing_state(team.org)
    payload = '{"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {}}'
    response = await post_webhook(http, payload, signature(payload))
    assert response.status_code == 503
    assert response.json()["error"]["reason"] == "BILLING_NOT_CONFIGURED"
    assert await billing_state(team.org) == before


@pytest.mark.no_db
def test_billing_settings_come_from_the_environment() -> None:
    assert Settings.from_env({}).stripe_secret_key is None
    settings = Settings.from_env({
        "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "STRIPE_API_BASE": "http://127.0.0.1:12111", "STRIPE_TIMEOUT": "2.5",
        "STRIPE_MAX_NETWORK_RETRIES": "0", "STRIPE_WEBHOOK_TOLERANCE": "60",
        "STRIPE_PRICE_PRO_MONTH": "price_a", "STRIPE_PRICE_PRO_YEAR": "price_b",
        "STRIPE_PRICE_BUSINESS_MONTH": "price_c", "STRIPE_PRICE_BUSINESS_YEAR": "price_d"})
    assert (settings.stripe_secret_key, settings.stripe_webhook_secret) == ("sk_test_x",
                                                                           "whsec_x")
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert (settings.stripe_timeout, settings.stripe_max_network_retries,
            settings.stripe_webhook_tolerance) == (2.5, 0, 60)
    assert (settings.stripe_price_pro_month, settings.stripe_price_pro_year,
            settings.stripe_price_business_month, settings.stripe_price_business_year) == (
        "price_a", "price_b", "price_c", "price_d")


@pytest.mark.no_db
@pytest.mark.parametrize(("extra", "problem"), [
    ({"STRIPE_SECRET_KEY": "sk_live_x"}, "STRIPE_WEBHOOK_SECRET"),
    ({"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
      "STRIPE_API_BASE": "http://127.0.0.1:1"}, "STRIPE_API_BASE"),
])
def test_production_refuses_half_configured_billing(extra: dict[str, str],
                                                     problem: str) -> None:
    env = {"RELLEKS_ENV": "production", "SECRET_KEY": "x" * 48,
           "SMTP_URL": "smtp://127.0.0.1:25", **extra}
    with pytest.raises(ConfigurationError, match=problem):
        Settings.from_env(env)
