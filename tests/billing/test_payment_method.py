"""`organization.billing.paymentMethod`: the card Stripe charges at renewal, read from the fake
Stripe after each webhook event that may change it (the customer's default, the
subscription's own), out of order or not, stored as four display fields and nothing else."""

from __future__ import annotations

from typing import Any

import httpx

from models.billing import BillingAccount, StripeEvent
from models.orgs import Role
from tests.billing.conftest import (
    FakeStripe,
    account_of,
    billing_events,
    deliver,
    post_webhook,
    signature,
    subscribe,
)
from tests.conftest import Api, errors_of
from tests.orgs.conftest import Team, signed_in

PAYMENT_METHOD = """query($slug: String!) { organization(slug: $slug) { billing {
  paymentMethod { brand last4 expMonth expYear } } } }"""


async def payment_method(api: Api, team: Team, role: Role = Role.OWNER) -> Any:
    body = await api.gql(PAYMENT_METHOD, {"slug": team.slug}, token=team.people[role].token)
    assert "errors" not in body, body
    return body["data"]["organization"]["billing"]["paymentMethod"]


async def test_a_card_added_in_the_portal_shows_after_its_events(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    assert await payment_method(api, team) is None
    customer = subscription["customer"]

    stripe.tick()
    method, customer_obj = stripe.attach_card(customer, brand="mastercard", last4="4444",
                                              exp_month=3, exp_year=2031)
    await deliver(http, stripe.event("payment_method.attached", method))
    await deliver(http, stripe.event("customer.updated", customer_obj))
    assert await payment_method(api, team) == {"brand": "mastercard", "last4": "4444",
                                               "expMonth": 3, "expYear": 2031}
    # ADMINs read billing, so they see it too.
    assert (await payment_method(api, team, Role.ADMIN))["last4"] == "4444"

    # Only the four fields are kept: nothing else Stripe said about the card or its holder.
    account = await account_of(team.org)
    assert account is not None
    assert (account.payment_brand, account.payment_last4, account.payment_exp_month,
            account.payment_exp_year) == ("mastercard", "4444", 3, 2031)
    row = str(await BillingAccount._scoped(team.org.id).values())
    for secret in (method["id"], "fpr_secret", "Ada", "12345", "cvc"):
        assert secret not in row
    events = [e for e in await billing_events(team.org)
              if e.action == "billing.payment_method_updated"]
    assert len(events) == 1  # the second event found the same card: no second entry
    assert events[0].summary == {"brand": "mastercard", "last4": "4444"}
    assert events[0].actor_id is None
    # Each event asked Stripe for the subscription and the customer, expanded.
    gets = [c for c in stripe.calls if c.method == "GET" and c.path.startswith("/v1/customers/")]
    assert gets and gets[-1].params == {
        "expand": ["invoice_settings.default_payment_method"]}


async def test_the_subscription_own_method_wins_and_detaching_clears(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    customer = subscription["customer"]
    _, customer_obj = stripe.attach_card(customer, last4="4242")
    await deliver(http, stripe.event("customer.updated", customer_obj))
    assert (await payment_method(api, team))["last4"] == "4242"

    stripe.tick()
    own, _ = stripe.attach_card(customer, brand="amex", last4="0005", exp_month=1,
                                exp_year=2029, make_default=False)
    updated, previous = stripe.update_subscription(subscription["id"],
                                                   default_payment_method=own["id"])
    await deliver(http, stripe.event("customer.subscription.updated", updated,
                                     previous_attributes=previous))
    assert await payment_method(api, team) == {"brand": "amex", "last4": "0005",
                                               "expMonth": 1, "expYear": 2029}

    stripe.tick()
    detached, previous = stripe.detach(own["id"])
    await deliver(http, stripe.event("payment_method.detached", detached,
                                      previous_attributes=previous))
    assert (await payment_method(api, team))["last4"] == "4242"  # the customer's again

    stripe.tick()
    _, customer_obj = stripe.attach_card(customer, kind="sepa_debit", last4="3000")
    await deliver(http, stripe.event("customer.updated", customer_obj))
    assert await payment_method(api, team) == {"brand": "sepa_debit", "last4": "3000",
                                               "expMonth": None, "expYear": None}
    first = next(iter(stripe.payment_methods))
    stripe.detach(first)
    stripe.detach(next(pm for pm in stripe.payment_methods
                       if stripe.payment_methods[pm]["type"] == "sepa_debit"))
    await deliver(http, stripe.event("customer.updated", stripe.customers[customer]))
    assert await payment_method(api, team) is None


async def test_an_older_event_arriving_late_still_shows_the_current_card(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    customer = subscription["customer"]
    _, first = stripe.attach_card(customer, last4="1111")
    old = stripe.event("customer.updated", first)
    stripe.tick()
    _, second = stripe.attach_card(customer, last4="2222")
    await deliver(http, stripe.event("customer.updated", second))
    await deliver(http, old)  # late: Stripe is asked, and says 2222
    assert (await payment_method(api, team))["last4"] == "2222"


async def test_stripe_failing_answers_500_and_the_redelivery_applies(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    _, customer_obj = stripe.attach_card(subscription["customer"], last4="9999")
    event = stripe.event("customer.updated", customer_obj)
    stripe.fail_next(10, status=500)
    payload = __import__("json").dumps(event)
    response = await post_webhook(http, payload, signature(payload))
    assert response.status_code == 500
    assert not await StripeEvent.filter(event_id=event["id"]).exists()
    assert await payment_method(api, team) is None
    stripe.faults.clear()
    await deliver(http, event)
    assert (await payment_method(api, team))["last4"] == "9999"


async def test_a_customer_of_no_org_of_ours_is_ignored_without_asking_stripe(
        http: httpx.AsyncClient, stripe: FakeStripe) -> None:
    stripe.customers["cus_stranger"] = {"id": "cus_stranger", "object": "customer",
                                        "invoice_settings": {"default_payment_method": None}}
    method, customer = stripe.attach_card("cus_stranger")
    await deliver(http, stripe.event("payment_method.attached", method), expect="ignored")
    await deliver(http, stripe.event("customer.updated", customer), expect="ignored")
    assert stripe.calls == []


async def test_members_and_outsiders_do_not_see_it(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team, settings: Any
) -> None:
    subscription = await subscribe(api, http, stripe, team)
    _, customer_obj = stripe.attach_card(subscription["customer"])
    await deliver(http, stripe.event("customer.updated", customer_obj))
    for role in (Role.MEMBER, Role.VIEWER):
        body = await api.gql(PAYMENT_METHOD, {"slug": team.slug},
                             token=team.people[role].token)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "4242" not in str(body)
    outsider = await signed_in(settings, "outsider@example.com")
    body = await api.gql(PAYMENT_METHOD, {"slug": team.slug}, token=outsider.token)
    assert errors_of(body)[0]["extensions"]["code"] == "NOT_FOUND"
    assert "4242" not in str(body)
