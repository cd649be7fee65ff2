"""startCheckout and openBillingPortal over HTTP, with the real stripe library calling the fake
Stripe: customers, Checkout Sessions, portal sessions, idempotency keys, and Stripe failures that
leave our database as it was."""

from __future__ import annotations

import dataclasses
import time

import httpx

from core.settings import Settings
from models.orgs import Role
from server import create_app
from tests.billing.conftest import (
    OPEN_PORTAL,
    START_CHECKOUT,
    FakeStripe,
    account_of,
    billing_events,
    billing_of,
    billing_state,
    start_checkout,
    subscribe,
)
from tests.conftest import Api, error_code, errors_of
from tests.orgs.conftest import Team, make_team


async def test_checkout_creates_the_customer_and_a_session_and_returns_its_url(
        api: Api, stripe: FakeStripe, team: Team) -> None:
    body = await start_checkout(api, team, "PRO", "MONTH")
    assert "errors" not in body, body
    session = body["data"]["startCheckout"]["billingSession"]
    assert session["url"] == f"https://checkout.stripe.com/c/pay/{session['id']}"

    (customer_call,) = stripe.asked("/v1/customers")
    owner = team.people[Role.OWNER]
    assert customer_call.params == {"name": "Team acme", "email": owner.email,
                                    "metadata": {"organization_id": str(team.org.id)}}
    (session_call,) = stripe.asked("/v1/checkout/sessions")
    (customer_id,) = stripe.customers
    metadata = {"organization_id": str(team.org.id), "plan": "pro", "interval": "month"}
    assert session_call.params["mode"] == "subscription"
    assert session_call.params["customer"] == customer_id
    assert session_call.params["line_items"] == [{"price": "price_pro_month", "quantity": "1"}]
    assert session_call.params["client_reference_id"] == str(team.org.id)
    assert session_call.params["metadata"] == metadata
    assert session_call.params["subscription_data"] == {"metadata": metadata}
    assert session_call.params["success_url"].startswith("http://testserver/billing/success")
    # Every call carries an idempotency key and the secret key, never anything else secret.
    for call in (customer_call, session_call):
        assert call.idempotency_key and call.idempotency_key.startswith("relleks:")
        assert call.headers["authorization"] == f"Bearer {stripe.api_key}"

    account = await account_of(team.org)
    assert account is not None and account.stripe_customer_id == customer_id
    assert account.stripe_subscription_id is None  # nothing is paid until Stripe says so
    (event,) = await billing_events(team.org)
    assert event.action == "billing.checkout_started"
    assert event.actor_id == owner.user.id
    assert event.summary == {"plan": "pro", "interval": "month"}
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["status"], billing["hasCustomer"]) == ("FREE", "NONE", True)


async def test_each_plan_and_interval_uses_its_configured_price(
        api: Api, stripe: FakeStripe, team: Team) -> None:
    for plan, interval, price in (("PRO", "YEAR", "price_pro_year"),
                                  ("BUSINESS", "MONTH", "price_business_month"),
                                  ("BUSINESS", "YEAR", "price_business_year")):
        body = await start_checkout(api, team, plan, interval)
        assert "errors" not in body, body
        call = stripe.asked("/v1/checkout/sessions")[-1]
        assert call.params["line_items"][0]["price"] == price
        assert call.params["metadata"]["plan"] == plan.lower()
    # The customer was created once and reused by every later checkout.
    assert len(stripe.asked("/v1/customers")) == 1
    assert len(stripe.customers) == 1
    assert [e.action for e in await billing_events(team.org)] == ["billing.checkout_started"] * 3


async def test_free_needs_no_checkout(api: Api, stripe: FakeStripe, team: Team) -> None:
    before = await billing_state(team.org)
    body = await start_checkout(api, team, "FREE", "MONTH")
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["plan"]
    assert stripe.calls == []
    assert await billing_state(team.org) == before


async def test_an_org_with_a_live_subscription_changes_plan_in_the_portal(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    await subscribe(api, http, stripe, team)
    calls, before = len(stripe.calls), await billing_state(team.org)
    body = await start_checkout(api, team, "BUSINESS", "YEAR")
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "CONFLICT", "reason": "ALREADY_SUBSCRIBED"}
    assert "openBillingPortal" in error["message"]
    assert len(stripe.calls) == calls
    assert await billing_state(team.org) == before


async def test_a_stripe_error_is_a_clear_error_and_changes_nothing(
        api: Api, stripe: FakeStripe, team: Team) -> None:
    before = await billing_state(team.org)
    stripe.fail_next(status=500, should_retry=False)
    body = await start_checkout(api, team)
    (error,) = errors_of(body)
    assert error["message"] == ("The payment provider did not answer; nothing was changed. "
                                "Try again.")
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert error["extensions"]["requestId"]
    assert body["data"] is None
    assert await billing_state(team.org) == before


async def test_a_stripe_timeout_is_a_clear_error_and_changes_nothing(
        api: Api, stripe: FakeStripe, team: Team) -> None:
    before = await billing_state(team.org)
    # Slower than STRIPE_TIMEOUT (0.4 s here) on the first try and on the one retry.
    stripe.fail_next(count=2, status=None, delay=1.0)
    body = await start_checkout(api, team)
    (error,) = errors_of(body)
    assert error["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert "did not answer" in error["message"]
    assert await billing_state(team.org) == before
    # The retry carried the first attempt's idempotency key.
    first, retry = stripe.posts("/v1/customers")
    assert first.idempotency_key == retry.idempotency_key


async def test_stripe_refusing_is_reported_as_such(api: Api, stripe: FakeStripe,
                                                   team: Team) -> None:
    before = await billing_state(team.org)
    stripe.fail_next(status=400, error_type="invalid_request_error", message="No such price")
    body = await start_checkout(api, team)
    (error,) = errors_of(body)
    assert error["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert "refused" in error["message"]
    assert await billing_state(team.org) == before


async def test_a_failure_after_the_customer_was_made_saves_nothing_and_a_retry_reuses_it(
        api: Api, stripe: FakeStripe, team: Team) -> None:
    before = await billing_state(team.org)
    stripe.fail_next(status=None)  # the customer call goes through
    stripe.fail_next(count=2, status=503, should_retry=True)  # the session call fails twice
    body = await start_checkout(api, team)
    assert errors_of(body)[0]["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert await billing_state(team.org) == before
    assert len(stripe.customers) == 1

    body = await start_checkout(api, team)
    assert "errors" not in body, body
    # Same parameters, same idempotency key: Stripe hands back the customer it made.
    assert len(stripe.customers) == 1
    first, second = stripe.posts("/v1/customers")
    assert first.idempotency_key == second.idempotency_key
    account = await account_of(team.org)
    assert account is not None and account.stripe_customer_id == next(iter(stripe.customers))


async def test_the_library_retries_a_stripe_hiccup_with_the_same_key(
        api: Api, stripe: FakeStripe, team: Team) -> None:
    stripe.fail_next(status=None)
    stripe.fail_next(status=500, should_retry=True)
    body = await start_checkout(api, team)
    assert "errors" not in body, body
    first, retry = stripe.posts("/v1/checkout/sessions")
    assert first.idempotency_key == retry.idempotency_key
    assert len(stripe.checkout_sessions) == 1


async def test_the_portal_opens_for_an_org_with_a_customer(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    await subscribe(api, http, stripe, team)
    body = await api.gql(OPEN_PORTAL, {"id": team.org_id},
                         token=team.people[Role.OWNER].token)
    assert "errors" not in body, body
    portal = body["data"]["openBillingPortal"]["billingSession"]
    assert portal["url"].startswith("https://billing.stripe.com/p/session/")
    (call,) = stripe.asked("/v1/billing_portal/sessions")
    account = await account_of(team.org)
    assert account is not None
    assert call.params == {"customer": account.stripe_customer_id,
                           "return_url": "http://testserver/billing"}
    assert call.idempotency_key and call.idempotency_key.startswith("relleks:portal:")
    assert (await billing_events(team.org))[-1].action == "billing.portal_opened"


async def test_the_portal_needs_a_customer(api: Api, stripe: FakeStripe, team: Team) -> None:
    before = await billing_state(team.org)
    body = await api.gql(OPEN_PORTAL, {"id": team.org_id},
                         token=team.people[Role.OWNER].token)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "CONFLICT", "reason": "NO_BILLING_ACCOUNT"}
    assert stripe.calls == []
    assert await billing_state(team.org) == before


async def test_a_portal_failure_changes_nothing(api: Api, http: httpx.AsyncClient,
                                                stripe: FakeStripe, team: Team) -> None:
    await subscribe(api, http, stripe, team)
    before = await billing_state(team.org)
    stripe.fail_next(count=2, status=502)
    body = await api.gql(OPEN_PORTAL, {"id": team.org_id},
                         token=team.people[Role.OWNER].token)
    assert errors_of(body)[0]["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert await billing_state(team.org) == before


async def test_another_orgs_billing_is_not_found(api: Api, settings: Settings,
                                                stripe: FakeStripe, team: Team) -> None:
    rival = await make_team(api, settings, "globex", prefix="g.")
    before = await billing_state(team.org, rival.org)
    body = await api.gql(OPEN_PORTAL, {"id": team.org_id},
                         token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    body = await api.gql(START_CHECKOUT, {"input": {
        "organizationId": team.org_id, "plan": "PRO", "interval": "MONTH"}},
        token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    assert stripe.calls == []
    assert await billing_state(team.org, rival.org) == before


async def test_a_slow_stripe_is_reported_within_the_requests_time_budget(
        api: Api, settings: Settings, stripe: FakeStripe, team: Team) -> None:
    """Retries never outlive EXECUTION_TIMEOUT: the client hears that Stripe did not answer,
    not that its query was too big."""
    app = create_app(dataclasses.replace(settings, execution_timeout=1.0, stripe_timeout=5.0),
                     manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        stripe.fail_next(count=3, status=None, delay=3.0)
        before = await billing_state(team.org)
        started = time.monotonic()
        body = await Api(client).gql(START_CHECKOUT, {"input": {
            "organizationId": team.org_id, "plan": "PRO", "interval": "MONTH"}},
            token=team.people[Role.OWNER].token)
        assert time.monotonic() - started < 1.0
    await app.state.services.stripe.aclose()
    (error,) = errors_of(body)
    assert error["extensions"]["reason"] == "PAYMENT_PROVIDER_ERROR"
    assert "did not answer" in error["message"]
    assert await billing_state(team.org) == before
