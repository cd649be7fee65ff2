"""Billing: each organization's Stripe customer and subscription, its invoices, and the Stripe
events already processed.

An organization without a `BillingAccount` row is on the FREE plan and has never paid. Rows are
written only by the billing resolvers (the Stripe customer) and by Stripe's signed webhooks
(everything else), see `resolvers/billing_events.py`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self, cast

from tortoise import fields

from models.base import BaseModel
from models.orgs import Organization
from models.tenancy import TenantModel, before_org_known


class Plan(StrEnum):
    """The plans of the catalog (`billing/plans.py`), cheapest first."""

    FREE = "free"
    PRO = "pro"
    BUSINESS = "business"


class BillingInterval(StrEnum):
    """How often a subscription renews: Stripe's `recurring.interval`."""

    MONTH = "month"
    YEAR = "year"


class SubscriptionStatus(StrEnum):
    """Stripe's subscription statuses, plus NONE for an organization that never subscribed."""

    NONE = "none"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    PAUSED = "paused"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        """Stripe never moves a subscription out of these: a new one starts instead."""
        return self in {SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED}


class InvoiceStatus(StrEnum):
    """Stripe's invoice statuses."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"

    @property
    def final(self) -> bool:
        """An invoice in one of these never goes back to draft or open."""
        return self in {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}


class BillingAccount(TenantModel):
    """One organization's Stripe customer and the state of its subscription as Stripe last told
    it. `state_at` is the Stripe `created` time of the event that state came from: an event
    older than it is stale and changes nothing."""

    organization: fields.OneToOneRelation[Organization] = fields.OneToOneField(
        "relleks.Organization", related_name="billing_account", on_delete=fields.CASCADE
    )
    stripe_customer_id = fields.CharField(max_length=255, null=True, unique=True)
    stripe_subscription_id = fields.CharField(max_length=255, null=True)
    # cast: Tortoise types an enum field as never None, even with null=True.
    subscription_plan = cast("fields.Field[Plan | None]", fields.CharEnumField(
        Plan, max_length=16, null=True))
    interval = cast("fields.Field[BillingInterval | None]", fields.CharEnumField(
        BillingInterval, max_length=8, null=True))
    status = fields.CharEnumField(SubscriptionStatus, max_length=24,
                                  default=SubscriptionStatus.NONE)
    current_period_end = fields.DatetimeField(null=True)
    cancel_at_period_end = fields.BooleanField(default=False)
    trial_ends_at = fields.DatetimeField(null=True)
    state_at = fields.DatetimeField(null=True)
    # The payment method Stripe charges at renewal, as four display fields and nothing else
    # about the card (no number, no fingerprint, no holder): kept current by webhooks.
    payment_brand = fields.CharField(max_length=32, null=True)
    """`visa`, `mastercard`... (Stripe's `card.brand`), or the method's type when not a card."""
    payment_last4 = fields.CharField(max_length=4, null=True)
    payment_exp_month = fields.SmallIntField(null=True)
    payment_exp_year = fields.SmallIntField(null=True)
    renewal_held_by = fields.UUIDField(null=True)
    """The account deletion (`ScheduledWork` id) that stopped this subscription's renewal, as
    the organization would be deleted with the account; cleared when it resumes."""
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "billing_accounts"

    @property
    def subscription_live(self) -> bool:
        """Whether it has a Stripe subscription that has not ended (it may be set to end)."""
        return self.stripe_subscription_id is not None \
            and self.status is not SubscriptionStatus.NONE and not self.status.ended

    @classmethod
    async def by_customer(cls, customer_id: str) -> Self | None:
        """The account of a Stripe customer. A signed Stripe event is the authority here (no
        member is asking), so this is a lookup that no org membership precedes."""
        return await before_org_known(cls, reason="a Stripe event names a customer",
                                      stripe_customer_id=customer_id).first()


class Invoice(TenantModel):
    """A Stripe invoice of an organization, as the last event about it described it. Amounts
    are in the currency's smallest unit (cents), as Stripe sends them."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="invoices", on_delete=fields.CASCADE
    )
    stripe_invoice_id = fields.CharField(max_length=255, unique=True)
    stripe_subscription_id = fields.CharField(max_length=255, null=True)
    number = fields.CharField(max_length=64, null=True)
    amount_due = fields.BigIntField(default=0)
    amount_paid = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3)
    status = fields.CharEnumField(InvoiceStatus, max_length=16)
    hosted_invoice_url = fields.CharField(max_length=2048, null=True)
    issued_at = fields.DatetimeField()
    state_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "billing_invoices"
        indexes = (("organization_id", "issued_at"),)


class StripeEvent(BaseModel):
    """A Stripe event id already processed, kept so that a replayed delivery is acknowledged
    and ignored. `outcome` says what processing did: applied, stale or ignored."""

    event_id = fields.CharField(max_length=255, unique=True)
    type = fields.CharField(max_length=128)
    stripe_created_at = fields.DatetimeField()
    organization_id = fields.UUIDField(null=True)
    outcome = fields.CharField(max_length=16, default="applied")

    class Meta:
        table = "stripe_events"
