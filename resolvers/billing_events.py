"""What each verified Stripe event does to our database.

`process_event` runs one event in one transaction: it records the event id (unique, so a
replayed delivery is acknowledged and ignored), applies the event unless it is stale, and
writes an activity event for each change. An error rolls all of it back, the endpoint answers
500, and Stripe delivers the event again later.

Ordering: Stripe does not deliver in order. `BillingAccount.state_at` holds the `created` time
of the event its subscription state came from, and an event is stale (acknowledged, not
applied) when:
- it is older than that state;
- it is `customer.subscription.created` for the subscription we hold, in the same second as our
  state (`created` is the first state of a subscription, so any other event is newer);
- it would bring a subscription we saw end (canceled, incomplete_expired) back to life: Stripe
  never does, a new subscription starts instead;
- it ends a subscription other than the live one we hold (an old one's late deletion).
Invoices follow the same idea with their own `state_at`, and a paid, void or uncollectible
invoice never goes back to open.

The payment method is not read from the payloads (they name it by id, and arrive out of
order): after any event that may change it (`PAYMENT_METHOD_EVENTS`), Stripe is asked for it
before the transaction, and its four display fields are stored with the event.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from tortoise.exceptions import IntegrityError

from billing.plans import effective_plan, plan_of_price
from engine.context import Context
from models.billing import (
    BillingAccount,
    BillingInterval,
    Invoice,
    InvoiceStatus,
    Plan,
    StripeEvent,
    SubscriptionStatus,
)
from models.orgs import Organization
from models.tenancy import system_scope
from realtime.outbox import in_transaction
from resolvers.activity import record
from services.stripe import CardSummary

log = structlog.get_logger("relleks.billing")

STRIPE_EVENT = "a signed Stripe event about this organization"

APPLIED, STALE, IGNORED, DUPLICATE = "applied", "stale", "ignored", "duplicate"
Handler = Callable[[Context, dict[str, Any], datetime], Awaitable["Outcome"]]


@dataclass(frozen=True)
class Outcome:
    result: str
    org_id: uuid.UUID | None = None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _id(value: Any) -> str | None:
    """A Stripe reference, whether sent as an id or as an expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return str(value) if value else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def _account(customer_id: str | None, metadata: dict[str, Any],
                   reference: str | None = None) -> BillingAccount | None:
    """The account an event is about, locked for this transaction: by its Stripe customer (we
    created it, so it is linked already), else by the organization id we put in the metadata.
    None when the event is about none of our organizations."""
    org_id: uuid.UUID | None = None
    if customer_id:
        known = await BillingAccount.by_customer(customer_id)
        org_id = known.organization_id if known else None
    if org_id is None:
        org_id = _uuid(metadata.get("organization_id")) or _uuid(reference)
        if org_id is None or not await Organization.filter(id=org_id).exists():
            return None
    account = await system_scope(org_id, reason=STRIPE_EVENT).scoped(BillingAccount) \
        .select_for_update().first()
    if account is None:
        return await BillingAccount.create(organization_id=org_id, stripe_customer_id=customer_id)
    if customer_id and account.stripe_customer_id != customer_id:
        if account.stripe_customer_id is not None:
            log.warning("stripe.customer_mismatch", organization_id=str(org_id),
                        customer=customer_id)
            return None
        account.stripe_customer_id = customer_id
        await account.save(update_fields=["stripe_customer_id", "updated_at"])
    return account


def _state(account: BillingAccount) -> dict[str, Any]:
    """What an activity event shows of the billing state (no Stripe secrets exist in it)."""
    return {
        "plan": effective_plan(account.subscription_plan, account.status).value,
        "status": account.status.value,
        "cancelAtPeriodEnd": account.cancel_at_period_end,
    }


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: [before[key], after[key]] for key in after if before[key] != after[key]}


# Subscriptions

@dataclass(frozen=True)
class Subscription:
    """The parts of a Stripe subscription object we keep."""

    id: str
    status: SubscriptionStatus
    plan: Plan | None
    interval: BillingInterval | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    trial_ends_at: datetime | None


def read_subscription(ctx: Context, sub: dict[str, Any]) -> Subscription:
    items = (sub.get("items") or {}).get("data") or [{}]
    item = items[0]
    price = item.get("price") or {}
    sold = plan_of_price(ctx.services.settings, price.get("id") or "")
    if sold is None:
        # A price we do not sell (a configuration slip): keep what the checkout asked for
        # rather than take a paying customer's plan away.
        log.error("stripe.unknown_price", price=price.get("id"), subscription=sub.get("id"))
        metadata = sub.get("metadata") or {}
        plan = Plan(metadata["plan"]) if metadata.get("plan") in set(Plan) else None
        interval = BillingInterval(metadata["interval"]) \
            if metadata.get("interval") in set(BillingInterval) else None
    else:
        plan, interval = sold
    status = SubscriptionStatus(sub["status"])
    # API versions since 2025 keep the period on the item, older ones on the subscription;
    # recent portals cancel with `cancel_at` instead of `cancel_at_period_end`.
    return Subscription(
        id=sub["id"], status=status, plan=plan, interval=interval,
        current_period_end=_time(item.get("current_period_end") or sub.get("current_period_end")),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end"))
        or (bool(sub.get("cancel_at")) and not status.ended),
        trial_ends_at=_time(sub.get("trial_end")),
    )


def stale_subscription(account: BillingAccount, sub: Subscription, at: datetime,
                       event_type: str) -> bool:
    ours = account.stripe_subscription_id == sub.id
    if account.state_at is not None:
        if at < account.state_at:
            return True
        if at == account.state_at and ours and event_type == "customer.subscription.created":
            return True
    if ours and account.status.ended and not sub.status.ended:
        return True
    return bool(not ours and account.stripe_subscription_id and not account.status.ended
                and sub.status.ended)


ACTIONS = {
    "customer.subscription.created": "billing.subscription_created",
    "customer.subscription.updated": "billing.subscription_updated",
    "customer.subscription.deleted": "billing.subscription_canceled",
}


async def on_subscription(ctx: Context, event: dict[str, Any], at: datetime) -> Outcome:
    obj = event["data"]["object"]
    account = await _account(_id(obj.get("customer")), obj.get("metadata") or {})
    if account is None:
        return Outcome(IGNORED)
    sub = read_subscription(ctx, obj)
    if stale_subscription(account, sub, at, event["type"]):
        return Outcome(STALE, account.organization_id)
    before = _state(account)
    account.stripe_subscription_id = sub.id
    account.subscription_plan = sub.plan
    account.interval = sub.interval
    account.status = sub.status
    account.current_period_end = sub.current_period_end
    account.cancel_at_period_end = sub.cancel_at_period_end
    account.trial_ends_at = sub.trial_ends_at
    account.state_at = at
    await account.save()
    await record(ctx, account.organization_id, ACTIONS[event["type"]],
                 target_type="organization", target_id=account.organization_id,
                 summary={**_state(account), "changed": _changes(before, _state(account))})
    return Outcome(APPLIED, account.organization_id)


async def on_checkout_completed(ctx: Context, event: dict[str, Any], at: datetime) -> Outcome:
    """Provision at once (the user is back from Checkout before the subscription events may
    arrive), without `state_at`: the subscription's own events then apply over it."""
    session = event["data"]["object"]
    if session.get("mode") != "subscription" or not session.get("subscription"):
        return Outcome(IGNORED)
    metadata = session.get("metadata") or {}
    account = await _account(_id(session.get("customer")), metadata,
                             session.get("client_reference_id"))
    if account is None:
        return Outcome(IGNORED)
    subscription_id = _id(session["subscription"])
    if account.stripe_subscription_id == subscription_id:
        return Outcome(STALE, account.organization_id)  # its events got here first
    if account.stripe_subscription_id and not account.status.ended and account.state_at \
            and account.state_at > at:
        return Outcome(STALE, account.organization_id)
    plan = Plan(metadata["plan"]) if metadata.get("plan") in set(Plan) else None
    paid = session.get("payment_status") in {"paid", "no_payment_required"}
    before = _state(account)
    account.stripe_subscription_id = subscription_id
    account.subscription_plan = plan
    account.interval = BillingInterval(metadata["interval"]) \
        if metadata.get("interval") in set(BillingInterval) else None
    account.status = SubscriptionStatus.ACTIVE if paid else SubscriptionStatus.INCOMPLETE
    account.current_period_end = account.trial_ends_at = None
    account.cancel_at_period_end = False
    await account.save()
    await record(ctx, account.organization_id, "billing.checkout_completed",
                 target_type="organization", target_id=account.organization_id,
                 summary={**_state(account), "changed": _changes(before, _state(account))})
    return Outcome(APPLIED, account.organization_id)


# Invoices

def _invoice_subscription(obj: dict[str, Any]) -> str | None:
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    return _id(parent.get("subscription")) or _id(obj.get("subscription"))


def _stale_invoice(row: Invoice, status: InvoiceStatus, at: datetime) -> bool:
    if at < row.state_at:
        return True
    return row.status.final and not status.final


async def _save_invoice(account: BillingAccount, obj: dict[str, Any],
                        at: datetime) -> Invoice | None:
    """Insert or update the invoice; None when the event is older than what we hold."""
    status = InvoiceStatus(obj["status"])
    values: dict[str, Any] = {
        "stripe_subscription_id": _invoice_subscription(obj),
        "number": obj.get("number"),
        "amount_due": int(obj.get("amount_due") or 0),
        "amount_paid": int(obj.get("amount_paid") or 0),
        "currency": str(obj.get("currency") or "usd")[:3].lower(),
        "status": status,
        "hosted_invoice_url": obj.get("hosted_invoice_url"),
        "issued_at": _time(obj.get("created")) or at,
        "state_at": at,
    }
    row = await system_scope(account.organization_id, reason=STRIPE_EVENT).scoped(Invoice) \
        .filter(stripe_invoice_id=obj["id"]).select_for_update().first()
    if row is None:
        return await Invoice.create(organization_id=account.organization_id,
                                    stripe_invoice_id=obj["id"], **values)
    if _stale_invoice(row, status, at):
        return None
    row.update_from_dict(values)
    await row.save()
    return row


async def on_invoice(ctx: Context, event: dict[str, Any], at: datetime) -> Outcome:
    """`invoice.paid` and `invoice.payment_failed`: keep the invoice, and move the subscription
    we hold to ACTIVE or PAST_DUE when its subscription event is late."""
    obj = event["data"]["object"]
    account = await _account(_id(obj.get("customer")), obj.get("metadata") or {})
    if account is None:
        return Outcome(IGNORED)
    invoice = await _save_invoice(account, obj, at)
    if invoice is None:
        return Outcome(STALE, account.organization_id)
    before = _state(account)
    paid = event["type"] == "invoice.paid"
    moves = ({SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID,
              SubscriptionStatus.INCOMPLETE} if paid
             else {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING})
    if invoice.stripe_subscription_id and \
            invoice.stripe_subscription_id == account.stripe_subscription_id and \
            account.status in moves and (account.state_at is None or at >= account.state_at):
        account.status = SubscriptionStatus.ACTIVE if paid else SubscriptionStatus.PAST_DUE
        account.state_at = at
        await account.save(update_fields=["status", "state_at", "updated_at"])
    summary = {"invoice": invoice.number or invoice.stripe_invoice_id,
               "amountDue": invoice.amount_due, "amountPaid": invoice.amount_paid,
               "currency": invoice.currency, "invoiceStatus": invoice.status.value,
               **_state(account), "changed": _changes(before, _state(account))}
    await record(ctx, account.organization_id,
                 "billing.invoice_paid" if paid else "billing.payment_failed",
                 target_type="organization", target_id=account.organization_id, summary=summary)
    return Outcome(APPLIED, account.organization_id)


# The payment method

PAYMENT_METHOD_EVENTS = frozenset({
    "checkout.session.completed", "customer.updated",
    "customer.subscription.created", "customer.subscription.updated",
    "customer.subscription.deleted", "payment_method.attached", "payment_method.detached",
    "payment_method.updated", "payment_method.automatically_updated",
})
"""Events after which the payment method Stripe charges may have changed: the card itself is
read from Stripe (the payloads name it by id, and arrive out of order), so what is stored is
always what Stripe says now."""


@dataclass(frozen=True)
class PaymentMethodNow:
    org_id: uuid.UUID
    card: CardSummary | None


def _customer_of(event: dict[str, Any]) -> str | None:
    obj = event["data"]["object"]
    if event["type"] == "customer.updated":
        return _id(obj.get("id"))
    customer = _id(obj.get("customer"))
    if customer is None and event["type"] == "payment_method.detached":
        # A detached method no longer names its customer: Stripe sends it in the previous
        # attributes.
        customer = _id((event["data"].get("previous_attributes") or {}).get("customer"))
    return customer


async def current_payment_method(ctx: Context, event: dict[str, Any]) -> PaymentMethodNow | None:
    """Ask Stripe for the payment method of the customer an event is about (outside any
    transaction); None when the event cannot change it or names no customer of ours."""
    gateway = ctx.services.stripe
    if event.get("type") not in PAYMENT_METHOD_EVENTS or not gateway.configured:
        return None
    customer_id = _customer_of(event)
    account = await BillingAccount.by_customer(customer_id) if customer_id else None
    if account is None or customer_id is None:
        return None
    subscription_id = account.stripe_subscription_id if account.subscription_live else None
    obj = event["data"]["object"]
    if event["type"].startswith("customer.subscription."):
        subscription_id = _id(obj.get("id")) or subscription_id
    elif event["type"] == "checkout.session.completed":
        subscription_id = _id(obj.get("subscription")) or subscription_id
    card = await gateway.default_payment_method(
        org_id=account.organization_id, customer_id=customer_id,
        subscription_id=subscription_id, request_id=ctx.request_id)
    return PaymentMethodNow(account.organization_id, card)


def _card_fields(card: CardSummary | None) -> dict[str, Any]:
    return {"payment_brand": card.brand if card else None,
            "payment_last4": card.last4 if card else None,
            "payment_exp_month": card.exp_month if card else None,
            "payment_exp_year": card.exp_year if card else None}


async def save_payment_method(ctx: Context, now: PaymentMethodNow, outcome: Outcome) -> Outcome:
    """Store the four display fields, with an activity event when they changed."""
    account = await system_scope(now.org_id, reason=STRIPE_EVENT).scoped(BillingAccount) \
        .select_for_update().first()
    if account is None:
        return outcome
    values = _card_fields(now.card)
    result = outcome if outcome.result != IGNORED else Outcome(APPLIED, now.org_id)
    if all(getattr(account, key) == value for key, value in values.items()):
        return result
    account.update_from_dict(values)
    await account.save(update_fields=[*values, "updated_at"])
    await record(ctx, now.org_id, "billing.payment_method_updated",
                 target_type="organization", target_id=now.org_id,
                 summary={"brand": values["payment_brand"], "last4": values["payment_last4"]})
    return result


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_checkout_completed,
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "invoice.paid": on_invoice,
    "invoice.payment_failed": on_invoice,
}


async def process_event(ctx: Context, event: dict[str, Any]) -> str:
    """Apply one verified event at most once; returns applied, stale, ignored or duplicate."""
    event_id, event_type = str(event["id"]), str(event.get("type", ""))
    if await StripeEvent.filter(event_id=event_id).exists():
        return DUPLICATE
    at = _time(event.get("created")) or datetime.now(UTC)
    handler = HANDLERS.get(event_type)
    payment_method = await current_payment_method(ctx, event)
    try:
        async with in_transaction():
            seen = await StripeEvent.create(event_id=event_id, type=event_type[:128],
                                            stripe_created_at=at, outcome=IGNORED)
            outcome = await handler(ctx, event, at) if handler else Outcome(IGNORED)
            if payment_method is not None:
                outcome = await save_payment_method(ctx, payment_method, outcome)
            seen.outcome, seen.organization_id = outcome.result, outcome.org_id
            await seen.save(update_fields=["outcome", "organization_id"])
    except IntegrityError:
        # The same event delivered twice at once: the other delivery recorded it.
        if await StripeEvent.filter(event_id=event_id).exists():
            return DUPLICATE
        raise
    log.info("stripe.event", event_id=event_id, type=event_type, outcome=outcome.result,
             organization_id=str(outcome.org_id) if outcome.org_id else None)
    return outcome.result
