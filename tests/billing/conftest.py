"""Fixtures for the billing tests: a fake Stripe served over HTTP on 127.0.0.1 that the real
`stripe` library talks to, settings pointing at it, and helpers that sign webhook events the way
Stripe does and post them to the app.

`team` is the org "acme" (OWNER, ADMIN, MEMBER, VIEWER) from `tests/orgs/conftest.py`.
`subscribe` runs the whole paid path: startCheckout over HTTP, the customer paying on the fake's
Checkout page, and Stripe's webhook events delivered back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.activity import ActivityEvent
from models.billing import BillingAccount, Invoice, StripeEvent
from models.leads import Lead
from models.orgs import Invitation, Membership, Organization, Role
from tests.billing.fake_stripe import FakeStripe, FakeStripeServer
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team

API_KEY = "sk_test_relleks_fake_0123456789"
WEBHOOK_SECRET = "whsec_relleks_test_0123456789abcdef"
PRICES = {"price_pro_month": "month", "price_pro_year": "year",
          "price_business_month": "month", "price_business_year": "year"}
STRIPE_SETTINGS = {
    "stripe_secret_key": API_KEY,
    "stripe_webhook_secret": WEBHOOK_SECRET,
    "stripe_timeout": 0.4,
    "stripe_max_network_retries": 1,
    "stripe_price_pro_month": "price_pro_month",
    "stripe_price_pro_year": "price_pro_year",
    "stripe_price_business_month": "price_business_month",
    "stripe_price_business_year": "price_business_year",
}

START_CHECKOUT = """
mutation($input: StartCheckoutInput!) {
  startCheckout(input: $input) { billingSession { id url } } }"""
OPEN_PORTAL = ("mutation($id: ID!) { openBillingPortal(input: {organizationId: $id}) { "
               "billingSession { id url } } }")
BILLING = """
query($slug: String!) { organization(slug: $slug) { billing {
  plan subscribedPlan status interval currentPeriodEnd cancelAtPeriodEnd trialEndsAt
  inGracePeriod hasCustomer
  limits { members leads partnerTokens aiCreditsPerMonth }
  usage { members leads }
  invoices(first: 10) { totalCount nodes {
    number amountDue amountPaid currency status hostedInvoiceUrl createdAt } }
} } }"""


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe(api_key=API_KEY, prices=PRICES)
    with FakeStripeServer(fake) as base_url:
        yield fake, base_url


@pytest.fixture
def stripe(stripe_server: tuple[FakeStripe, str]) -> FakeStripe:
    fake = stripe_server[0]
    fake.reset()
    return fake


@pytest.fixture
def settings(settings: Settings, stripe_server: tuple[FakeStripe, str]) -> Settings:
    return dataclasses.replace(settings, stripe_api_base=stripe_server[1], **STRIPE_SETTINGS)


@pytest.fixture
async def app(app: Any) -> AsyncIterator[Any]:
    yield app
    await app.state.services.stripe.aclose()


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


# Webhooks, signed like Stripe signs them

def signature(payload: str, *, secret: str = WEBHOOK_SECRET,
              timestamp: int | None = None) -> str:
    """`Stripe-Signature`: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


async def post_webhook(http: httpx.AsyncClient, payload: str, header: str | None
                       ) -> httpx.Response:
    headers = {"content-type": "application/json; charset=utf-8",
               "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if header is not None:
        headers["stripe-signature"] = header
    return await http.post("/webhooks/stripe", content=payload.encode(), headers=headers)


async def deliver(http: httpx.AsyncClient, event: dict[str, Any], *,
                  expect: str | None = "applied") -> dict[str, Any]:
    """Sign and post one event; check it was answered 200 with `expect` as its outcome."""
    payload = json.dumps(event, indent=2)
    response = await post_webhook(http, payload, signature(payload))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] is True and body["id"] == event["id"]
    if expect is not None:
        assert body["outcome"] == expect, (event["type"], body)
    return body


# The paid path

async def start_checkout(api: Api, team: Team, plan: str = "PRO", interval: str = "MONTH",
                         role: Role = Role.OWNER) -> dict[str, Any]:
    return await api.gql(START_CHECKOUT, {"input": {
        "organizationId": team.org_id, "plan": plan, "interval": interval}},
        token=team.people[role].token)


async def subscribe(api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team,
                    plan: str = "PRO", interval: str = "MONTH") -> dict[str, Any]:
    """Checkout over HTTP, paid on the fake's page, Stripe's events delivered: the org is on
    `plan`. Returns the Stripe subscription."""
    body = await start_checkout(api, team, plan, interval)
    assert "errors" not in body, body
    checkout = body["data"]["startCheckout"]["billingSession"]
    session, subscription = stripe.complete_checkout(checkout["id"])
    await deliver(http, stripe.event("checkout.session.completed", session))
    stripe.tick()
    await deliver(http, stripe.event("customer.subscription.created", subscription))
    return subscription


async def billing_of(api: Api, team: Team, role: Role = Role.OWNER) -> dict[str, Any]:
    body = await api.gql(BILLING, {"slug": team.slug}, token=team.people[role].token)
    assert "errors" not in body, body
    return body["data"]["organization"]["billing"]


async def account_of(org: Organization) -> BillingAccount | None:
    return await BillingAccount._scoped(org.id).first()


async def billing_events(org: Organization) -> list[ActivityEvent]:
    rows = await ActivityEvent._scoped(org.id).order_by("created_at", "id")
    return [e for e in rows if e.action.startswith("billing.")]


async def billing_state(*orgs: Organization) -> dict[str, Any]:
    """Every billing row, plus the org-owned rows a billing call could touch, for "nothing
    changed" assertions."""
    ids = [o.id for o in orgs] or [o.id for o in await Organization.all()]
    return {
        "accounts": sorted(map(tuple, await BillingAccount._scoped(ids).values_list(
            "organization_id", "stripe_customer_id", "stripe_subscription_id",
            "subscription_plan", "status", "current_period_end", "cancel_at_period_end",
            "state_at"))),
        "invoices": sorted(map(tuple, await Invoice._scoped(ids).values_list(
            "stripe_invoice_id", "status", "amount_paid", "state_at"))),
        "stripe_events": sorted(await StripeEvent.all().values_list("event_id", flat=True)),
        "activity": sorted(await ActivityEvent._scoped(ids).values_list("id", flat=True)),
        "leads": await Lead._scoped(ids).count(),
        "memberships": await Membership._scoped(ids).count(),
        "invitations": await Invitation._scoped(ids).count(),
    }
