"""POST /webhooks/stripe: each event, signed as Stripe signs it and posted over HTTP; replays,
events out of order, forged signatures; the org's plan and status follow, each change in the
activity log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from models.billing import Invoice, StripeEvent
from models.orgs import Role
from tests.billing.conftest import (
    FakeStripe,
    account_of,
    billing_events,
    billing_of,
    billing_state,
    deliver,
    post_webhook,
    signature,
    start_checkout,
    subscribe,
)
from tests.conftest import Api
from tests.orgs.conftest import Team


async def _checkout(api: Api, stripe: FakeStripe, team: Team, plan: str = "PRO",
                    interval: str = "MONTH", trial_days: int = 0) -> tuple[dict, dict]:
    body = await start_checkout(api, team, plan, interval)
    assert "errors" not in body, body
    checkout = body["data"]["startCheckout"]["billingSession"]
    return stripe.complete_checkout(checkout["id"], trial_days=trial_days)


def _when(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


async def test_checkout_completed_puts_the_org_on_the_plan_at_once(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    session, subscription = await _checkout(api, stripe, team, "BUSINESS", "YEAR")
    await deliver(http, stripe.event("checkout.session.completed", session))

    billing = await billing_of(api, team)
    assert billing["plan"] == "BUSINESS" and billing["status"] == "ACTIVE"
    assert billing["interval"] == "YEAR"
    assert billing["limits"]["leads"] == 250_000
    account = await account_of(team.org)
    assert account is not None and account.stripe_subscription_id == subscription["id"]
    assert account.state_at is None  # the subscription's own events then apply over it
    event = (await billing_events(team.org))[-1]
    assert event.action == "billing.checkout_completed" and event.actor_id is None
    assert event.summary["changed"] == {"plan": ["free", "business"],
                                        "status": ["none", "active"]}
    assert event.user_agent and event.user_agent.startswith("Stripe/")


async def test_subscription_created_then_updated_then_deleted(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    _, subscription = await _checkout(api, stripe, team)
    stripe.tick()
    await deliver(http, stripe.event("customer.subscription.created", subscription))
    billing = await billing_of(api, team)
    period_end = subscription["items"]["data"][0]["current_period_end"]
    assert (billing["plan"], billing["status"], billing["interval"]) == ("PRO", "ACTIVE",
                                                                        "MONTH")
    assert billing["currentPeriodEnd"] == _when(period_end).isoformat()
    assert billing["cancelAtPeriodEnd"] is False
    account = await account_of(team.org)
    assert account is not None and account.state_at == _when(stripe.clock)

    # The OWNER cancels in the portal: the plan runs to the end of the period.
    stripe.tick()
    updated, previous = stripe.update_subscription(subscription["id"],
                                                   cancel_at_period_end=True)
    await deliver(http, stripe.event("customer.subscription.updated", updated,
                                     previous_attributes=previous))
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["cancelAtPeriodEnd"]) == ("PRO", True)

    # The period ends: Stripe deletes the subscription and the org falls back to FREE.
    stripe.tick()
    await deliver(http, stripe.event("customer.subscription.deleted",
                                     stripe.cancel_subscription(subscription["id"])))
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["subscribedPlan"], billing["status"]) == (
        "FREE", "PRO", "CANCELED")
    assert billing["limits"]["members"] == 10

    actions = [e.action for e in await billing_events(team.org)]
    assert actions == ["billing.checkout_started", "billing.subscription_created",
                       "billing.subscription_updated", "billing.subscription_canceled"]
    events = await billing_events(team.org)
    assert events[2].summary["changed"] == {"cancelAtPeriodEnd": [False, True]}
    assert events[3].summary["changed"] == {"plan": ["pro", "free"],
                                            "status": ["active", "canceled"],
                                            "cancelAtPeriodEnd": [True, False]}
    # Once canceled, a new checkout is possible again.
    body = await start_checkout(api, team, "BUSINESS", "MONTH")
    assert "errors" not in body, body


async def test_a_plan_change_in_the_portal_moves_the_org(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick()
    updated, previous = stripe.update_subscription(subscription["id"],
                                                   price="price_business_year")
    await deliver(http, stripe.event("customer.subscription.updated", updated,
                                     previous_attributes=previous))
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["interval"]) == ("BUSINESS", "YEAR")
    assert billing["limits"] == {"members": 200, "leads": 250_000, "partnerTokens": 25,
                                 "aiCreditsPerMonth": 20_000}


async def test_a_trial_shows_its_end(api: Api, http: httpx.AsyncClient, stripe: FakeStripe,
                                     team: Team) -> None:
    session, subscription = await _checkout(api, stripe, team, trial_days=14)
    await deliver(http, stripe.event("checkout.session.completed", session))
    stripe.tick()
    await deliver(http, stripe.event("customer.subscription.created", subscription))
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["status"]) == ("PRO", "TRIALING")
    assert billing["trialEndsAt"] == _when(subscription["trial_end"]).isoformat()


async def test_invoice_paid_lists_the_invoice(api: Api, http: httpx.AsyncClient,
                                              stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    invoice = stripe.invoice(subscription["id"], status="paid", amount=2900)
    await deliver(http, stripe.event("invoice.paid", invoice))
    billing = await billing_of(api, team)
    assert billing["invoices"]["totalCount"] == 1
    assert billing["invoices"]["nodes"] == [{
        "number": invoice["number"], "amountDue": 2900, "amountPaid": 2900, "currency": "usd",
        "status": "PAID", "hostedInvoiceUrl": invoice["hosted_invoice_url"],
        "createdAt": _when(invoice["created"]).isoformat()}]
    (row,) = await Invoice._scoped(team.org.id)
    assert row.stripe_subscription_id == subscription["id"]
    event = (await billing_events(team.org))[-1]
    assert event.action == "billing.invoice_paid"
    assert event.summary["invoice"] == invoice["number"]
    assert event.summary["amountPaid"] == 2900


async def test_invoices_come_newest_first_and_page(api: Api, http: httpx.AsyncClient,
                                                   stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    numbers = []
    for _ in range(3):
        stripe.tick(30 * 86400)
        invoice = stripe.invoice(subscription["id"], status="paid")
        numbers.append(invoice["number"])
        await deliver(http, stripe.event("invoice.paid", invoice))
    body = await api.gql("""query($slug: String!) { organization(slug: $slug) { billing {
        invoices(first: 2) { totalCount pageInfo { hasNextPage } nodes { number } } } } }""",
                         {"slug": team.slug}, token=team.people[Role.ADMIN].token)
    invoices = body["data"]["organization"]["billing"]["invoices"]
    assert invoices["totalCount"] == 3 and invoices["pageInfo"]["hasNextPage"] is True
    assert [n["number"] for n in invoices["nodes"]] == numbers[::-1][:2]


async def test_a_failed_payment_keeps_the_plan_in_a_grace_period_then_cancel_falls_back(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick(30 * 86400)
    invoice = stripe.invoice(subscription["id"], status="open")
    await deliver(http, stripe.event("invoice.payment_failed", invoice))
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["status"], billing["inGracePeriod"]) == (
        "PRO", "PAST_DUE", True)
    assert billing["invoices"]["nodes"][0]["status"] == "OPEN"
    assert billing["invoices"]["nodes"][0]["amountPaid"] == 0
    event = (await billing_events(team.org))[-1]
    assert event.action == "billing.payment_failed"
    assert event.summary["changed"] == {"status": ["active", "past_due"]}

    # Stripe's own update arrives too, in the same second: same state, nothing breaks.
    updated, previous = stripe.update_subscription(subscription["id"], status="past_due")
    await deliver(http, stripe.event("customer.subscription.updated", updated,
                                     previous_attributes=previous))
    assert (await billing_of(api, team))["status"] == "PAST_DUE"

    # Retries exhausted: Stripe cancels, the org falls back to FREE.
    stripe.tick(7 * 86400)
    await deliver(http, stripe.event("customer.subscription.deleted",
                                     stripe.cancel_subscription(subscription["id"])))
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["status"], billing["inGracePeriod"]) == (
        "FREE", "CANCELED", False)


async def test_a_late_payment_brings_a_past_due_org_back(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick(30 * 86400)
    invoice = stripe.invoice(subscription["id"], status="open")
    await deliver(http, stripe.event("invoice.payment_failed", invoice))
    stripe.tick(86400)
    paid = stripe.invoice(subscription["id"], status="paid", invoice_id=invoice["id"])
    await deliver(http, stripe.event("invoice.paid", paid))
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["status"], billing["inGracePeriod"]) == (
        "PRO", "ACTIVE", False)
    (row,) = await Invoice._scoped(team.org.id)
    assert row.status.value == "paid" and row.amount_paid == 2900


@pytest.mark.parametrize("status", ["unpaid", "incomplete_expired", "paused"])
async def test_other_ended_or_unpaid_statuses_fall_back_to_free(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team, status: str) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick()
    updated, previous = stripe.update_subscription(subscription["id"], status=status)
    await deliver(http, stripe.event("customer.subscription.updated", updated,
                                     previous_attributes=previous))
    billing = await billing_of(api, team)
    assert billing["plan"] == "FREE"
    assert billing["status"] == status.upper()
    assert billing["subscribedPlan"] == "PRO"


async def test_a_replayed_event_is_acknowledged_and_ignored(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick()
    event = stripe.event("customer.subscription.deleted",
                         stripe.cancel_subscription(subscription["id"]))
    await deliver(http, event)
    state = await billing_state(team.org)
    # Stripe delivers it again (it did not see our answer), signed anew.
    await deliver(http, event, expect="duplicate")
    await deliver(http, event, expect="duplicate")
    assert await billing_state(team.org) == state
    (seen,) = await StripeEvent.filter(event_id=event["id"])
    assert seen.outcome == "applied" and seen.organization_id == team.org.id
    assert [e.action for e in await billing_events(team.org)].count(
        "billing.subscription_canceled") == 1


async def test_the_same_event_delivered_twice_at_once_is_applied_once(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick()
    invoice = stripe.invoice(subscription["id"], status="paid")
    event = stripe.event("invoice.paid", invoice)
    payload = json.dumps(event)
    responses = await asyncio.gather(*(post_webhook(http, payload, signature(payload))
                                       for _ in range(2)))
    assert [r.status_code for r in responses] == [200, 200]
    assert sorted(r.json()["outcome"] for r in responses) == ["applied", "duplicate"]
    assert len(await Invoice._scoped(team.org.id)) == 1
    assert [e.action for e in await billing_events(team.org)].count("billing.invoice_paid") == 1


async def test_an_older_update_never_overwrites_a_newer_state(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick(60)
    older, _ = stripe.update_subscription(subscription["id"], cancel_at_period_end=True)
    older_event = stripe.event("customer.subscription.updated", older)
    stripe.tick(60)
    newer, _ = stripe.update_subscription(subscription["id"], cancel_at_period_end=False,
                                          price="price_business_month")
    newer_event = stripe.event("customer.subscription.updated", newer)

    await deliver(http, newer_event)
    state = await billing_state(team.org)
    await deliver(http, older_event, expect="stale")
    assert await billing_state(team.org) == {**state, "stripe_events": sorted(
        [*state["stripe_events"], older_event["id"]])}
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["cancelAtPeriodEnd"]) == ("BUSINESS", False)
    (seen,) = await StripeEvent.filter(event_id=older_event["id"])
    assert seen.outcome == "stale"


async def test_created_arriving_after_an_update_of_the_same_second_is_stale(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    """Stripe creates a subscription `incomplete` and makes it `active` within a second; the
    two events may arrive the other way round."""
    _, subscription = await _checkout(api, stripe, team)
    created = stripe.event("customer.subscription.created", {**subscription,
                                                             "status": "incomplete"})
    updated = stripe.event("customer.subscription.updated", subscription)
    await deliver(http, updated)
    await deliver(http, created, expect="stale")
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["status"]) == ("PRO", "ACTIVE")


async def test_a_canceled_subscription_never_comes_back(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick()
    canceled = stripe.cancel_subscription(subscription["id"])
    await deliver(http, stripe.event("customer.subscription.deleted", canceled))
    # An update of the same second, delivered late, would bring it back: it is stale.
    await deliver(http, stripe.event("customer.subscription.updated",
                                     {**canceled, "status": "active"}), expect="stale")
    assert (await billing_of(api, team))["status"] == "CANCELED"


async def test_an_old_subscriptions_late_deletion_leaves_the_new_one_alone(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    first = await subscribe(api, http, stripe, team)
    stripe.tick()
    await deliver(http, stripe.event("customer.subscription.deleted",
                                     stripe.cancel_subscription(first["id"])))
    stripe.tick()
    second = await subscribe(api, http, stripe, team, "BUSINESS", "MONTH")
    # A second deletion event of the first subscription (e.g. from a retried dashboard action)
    await deliver(http, stripe.event("customer.subscription.deleted",
                                     stripe.subscriptions[first["id"]]), expect="stale")
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["status"]) == ("BUSINESS", "ACTIVE")
    account = await account_of(team.org)
    assert account is not None and account.stripe_subscription_id == second["id"]


async def test_checkout_completed_after_the_subscription_events_changes_nothing(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    session, subscription = await _checkout(api, stripe, team)
    stripe.tick()
    updated, _ = stripe.update_subscription(subscription["id"], cancel_at_period_end=True)
    await deliver(http, stripe.event("customer.subscription.updated", updated))
    state = await billing_state(team.org)
    await deliver(http, stripe.event("checkout.session.completed", session), expect="stale")
    after = await billing_state(team.org)
    assert after["accounts"] == state["accounts"]
    assert (await billing_of(api, team))["cancelAtPeriodEnd"] is True


async def test_a_paid_invoice_never_goes_back_to_open(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    subscription = await subscribe(api, http, stripe, team)
    stripe.tick()
    invoice = stripe.invoice(subscription["id"], status="open")
    failed = stripe.event("invoice.payment_failed", invoice)
    paid = stripe.event("invoice.paid", stripe.invoice(subscription["id"], status="paid",
                                                       invoice_id=invoice["id"]))
    await deliver(http, paid)
    await deliver(http, failed, expect="stale")
    (row,) = await Invoice._scoped(team.org.id)
    assert row.status.value == "paid"
    billing = await billing_of(api, team)
    assert (billing["status"], billing["inGracePeriod"]) == ("ACTIVE", False)


async def test_events_for_no_org_of_ours_and_other_types_are_acknowledged(
        http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    before = await billing_state(team.org)
    stranger = stripe.new_subscription("cus_someone_else", "price_pro_month")
    event = stripe.event("customer.subscription.created", stranger)
    await deliver(http, event, expect="ignored")
    other = stripe.event("customer.created", {"id": "cus_x", "object": "customer"})
    await deliver(http, other, expect="ignored")
    after = await billing_state(team.org)
    assert after == {**before, "stripe_events": sorted([event["id"], other["id"]])}


async def test_the_org_id_in_the_metadata_finds_an_org_without_a_customer_yet(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team) -> None:
    """E.g. a customer made in Stripe's dashboard for the org, with our metadata."""
    subscription = stripe.new_subscription("cus_dashboard", "price_pro_year",
                                           metadata={"organization_id": str(team.org.id)})
    await deliver(http, stripe.event("customer.subscription.created", subscription))
    account = await account_of(team.org)
    assert account is not None and account.stripe_customer_id == "cus_dashboard"
    billing = await billing_of(api, team)
    assert (billing["plan"], billing["interval"]) == ("PRO", "YEAR")


# Signatures

def _tampered(payload: str) -> tuple[str, str]:
    return payload.replace('"active"', '"canceled"'), signature(payload)


FORGERIES = {
    "no header": lambda payload: (payload, None),
    "empty header": lambda payload: (payload, ""),
    "garbage header": lambda payload: (payload, "not a signature"),
    "another secret": lambda payload: (payload, signature(payload, secret="whsec_guessed")),
    "tampered body": _tampered,
    "stale timestamp": lambda payload: (payload, signature(payload, timestamp=1_700_000_000)),
    "other scheme": lambda payload: (payload, signature(payload).replace("v1=", "v0=")),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_a_forged_or_stale_signature_is_400_and_changes_nothing(
        api: Api, http: httpx.AsyncClient, stripe: FakeStripe, team: Team,
        forgery: str) -> None:
    _, subscription = await _checkout(api, stripe, team)
    event = stripe.event("customer.subscription.created", subscription)
    before = await billing_state(team.org)
    payload, header = FORGERIES[forgery](json.dumps(event))
    response = await post_webhook(http, payload, header)
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "BAD_SIGNATURE"
    assert await billing_state(team.org) == before
    # The genuine delivery still works afterwards: a refused one did not burn the event id.
    await deliver(http, event)


async def test_a_signed_body_that_is_not_json_is_400(http: httpx.AsyncClient,
                                                     team: Team) -> None:
    before = await billing_state(team.org)
    response = await post_webhook(http, "not json", signature("not json"))
    assert response.status_code == 400
    assert await billing_state(team.org) == before

