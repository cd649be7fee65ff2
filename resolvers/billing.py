"""Billing for the API: an organization's plan and invoices, Checkout and the Customer Portal.

Stripe is called before anything is written, and outside any transaction: a Stripe failure
(PaymentProviderError) leaves our database as it was. What Stripe then does (payments,
plan changes, cancellations) reaches us through the webhook (`resolvers/billing_events.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from billing.limits import USAGE
from billing.plans import PLANS, Limits, effective_plan, price_id
from core.errors import BadUserInput, Conflict
from engine.context import Context
from models.billing import (
    BillingAccount,
    BillingInterval,
    Invoice,
    Plan,
    SubscriptionStatus,
)
from realtime.outbox import in_transaction
from resolvers.activity import record
from services.stripe import CardSummary, HostedSession
from services.stripe_errors import BillingNotConfigured


@dataclass(frozen=True)
class BillingSummary:
    """An organization's billing state; FREE with status NONE when it never subscribed."""

    org_id: uuid.UUID
    plan: Plan
    subscribed_plan: Plan | None = None
    status: SubscriptionStatus = SubscriptionStatus.NONE
    interval: BillingInterval | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    trial_ends_at: datetime | None = None
    has_customer: bool = False
    payment_method: CardSummary | None = None

    @property
    def in_grace_period(self) -> bool:
        return self.status is SubscriptionStatus.PAST_DUE

    @property
    def limits(self) -> Limits:
        return PLANS[self.plan].limits


async def billing_summary(ctx: Context, org_id: uuid.UUID) -> BillingSummary:
    account = await ctx.access.scoped(BillingAccount, org_id).first()
    if account is None:
        return BillingSummary(org_id=org_id, plan=Plan.FREE)
    return BillingSummary(
        org_id=org_id,
        plan=effective_plan(account.subscription_plan, account.status),
        subscribed_plan=account.subscription_plan,
        status=account.status,
        interval=account.interval,
        current_period_end=account.current_period_end,
        cancel_at_period_end=account.cancel_at_period_end,
        trial_ends_at=account.trial_ends_at,
        has_customer=account.stripe_customer_id is not None,
        payment_method=CardSummary(
            brand=account.payment_brand, last4=account.payment_last4,
            exp_month=account.payment_exp_month, exp_year=account.payment_exp_year)
        if account.payment_brand else None,
    )


async def usage(ctx: Context, org_id: uuid.UUID, resource: str) -> int:
    """How much of a limited resource the org uses (members count pending invitations)."""
    return await USAGE[resource](org_id)


def invoices_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[Invoice]:
    return ctx.access.scoped(Invoice, org_id).order_by("-issued_at", "-id")


async def _link_customer(ctx: Context, org_id: uuid.UUID, account: BillingAccount | None,
                         customer_id: str) -> None:
    """Save the new Stripe customer on the org's account, creating the account."""
    if account is None:
        try:
            async with in_transaction():  # a savepoint: a concurrent first checkout may win
                await BillingAccount.create(organization_id=org_id,
                                            stripe_customer_id=customer_id)
                return
        except IntegrityError:
            account = await ctx.access.scoped(BillingAccount, org_id).first()
            assert account is not None  # the concurrent request created it
    await ctx.access.scoped(BillingAccount, org_id).filter(
        id=account.id, stripe_customer_id__isnull=True).update(stripe_customer_id=customer_id)


async def start_checkout(ctx: Context, org_id: uuid.UUID, plan: Plan,
                         interval: BillingInterval) -> HostedSession:
    gateway = ctx.services.stripe
    if not gateway.configured:
        raise BillingNotConfigured()
    if plan is Plan.FREE:
        raise BadUserInput.field("plan", "FREE needs no checkout: to leave a paid plan, cancel "
                                         "it in the billing portal (openBillingPortal)")
    price = price_id(ctx.services.settings, plan, interval)
    if price is None:
        raise BillingNotConfigured(f"no Stripe price for {plan.name} billed every "
                                   f"{interval.value}")
    account = await ctx.access.scoped(BillingAccount, org_id).first()
    if account is not None and account.subscription_live:
        raise Conflict("This organization already has a subscription: change its plan in the "
                       "billing portal (openBillingPortal).", reason="ALREADY_SUBSCRIBED")
    org = await ctx.loaders.organization.load(org_id)
    assert org is not None  # the field's permission check found it
    customer_id = account.stripe_customer_id if account else None
    new_customer = customer_id is None
    if customer_id is None:
        customer_id = await gateway.create_customer(
            org_id=org_id, name=org.name, email=ctx.user.email, request_id=ctx.request_id)
    metadata = {"organization_id": str(org_id), "plan": plan.value, "interval": interval.value}
    session = await gateway.create_checkout_session(
        org_id=org_id, customer_id=customer_id, price=price, metadata=metadata,
        request_id=ctx.request_id)
    async with in_transaction():
        if new_customer:
            await _link_customer(ctx, org_id, account, customer_id)
        await record(ctx, org_id, "billing.checkout_started", target_type="organization",
                     target_id=org_id, summary={"plan": plan.value, "interval": interval.value})
    return session


async def open_billing_portal(ctx: Context, org_id: uuid.UUID) -> HostedSession:
    gateway = ctx.services.stripe
    if not gateway.configured:
        raise BillingNotConfigured()
    account = await ctx.access.scoped(BillingAccount, org_id).first()
    if account is None or account.stripe_customer_id is None:
        raise Conflict("This organization has no billing account yet: subscribe with "
                       "startCheckout first.", reason="NO_BILLING_ACCOUNT")
    session = await gateway.create_portal_session(
        org_id=org_id, customer_id=account.stripe_customer_id, request_id=ctx.request_id)
    async with in_transaction():
        await record(ctx, org_id, "billing.portal_opened", target_type="organization",
                     target_id=org_id)
    return session
