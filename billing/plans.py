"""The plan catalog, in one place: what each plan allows, and which Stripe prices sell it.

Limits live in code (a limit change is a product decision that ships with a release and its
tests); Stripe price ids live in configuration (they differ between Stripe's test and live
modes). `None` as a limit means unlimited.

    spec = PLANS[Plan.PRO]
    spec.limits.leads            # 25_000
    price_id(settings, Plan.PRO, BillingInterval.YEAR)   # STRIPE_PRICE_PRO_YEAR, or None
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import Settings
from models.billing import BillingInterval, Plan, SubscriptionStatus


@dataclass(frozen=True)
class Limits:
    """What an organization on a plan may hold. `None`: no limit."""

    members: int | None
    """Members plus pending invitations."""
    leads: int | None
    partner_tokens: int | None
    """Live API tokens (`createApiToken`); Free allows a couple so anyone can try the API."""
    ai_credits_per_month: int | None
    """AI assistant credits per calendar month (a later issue gates them)."""
    lead_forms: int | None = None
    """Lead forms (public lead capture), paused ones included."""
    form_submissions_per_month: int | None = None
    """Form submissions taken (or waiting for their double opt-in) per calendar month (UTC);
    past it, submissions are held for review instead of making leads."""

    webhook_endpoints: int | None = None
    """Webhook endpoints (`createWebhookEndpoint`), disabled ones included."""

    def of(self, resource: str) -> int | None:
        return getattr(self, resource)


@dataclass(frozen=True)
class PlanSpec:
    code: Plan
    name: str
    description: str
    limits: Limits


PLANS: dict[Plan, PlanSpec] = {
    Plan.FREE: PlanSpec(
        Plan.FREE, "Free", "For a small team trying Relleks.",
        Limits(members=10, leads=1_000, partner_tokens=2, ai_credits_per_month=0,
               lead_forms=2, form_submissions_per_month=250, webhook_endpoints=2)),
    Plan.PRO: PlanSpec(
        Plan.PRO, "Pro", "For a growing sales team.",
        Limits(members=25, leads=25_000, partner_tokens=3, ai_credits_per_month=2_000,
               lead_forms=20, form_submissions_per_month=5_000,
               webhook_endpoints=10)),
    Plan.BUSINESS: PlanSpec(
        Plan.BUSINESS, "Business", "For several teams and their integrations.",
        Limits(members=200, leads=250_000, partner_tokens=25, ai_credits_per_month=20_000,
               lead_forms=200, form_submissions_per_month=50_000,
               webhook_endpoints=50)),
}

# Statuses in which the subscribed plan applies. PAST_DUE keeps it while Stripe retries the
# payment (the grace period); every other status falls back to FREE (docs/billing.md).
PLAN_APPLIES = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING,
                          SubscriptionStatus.PAST_DUE})


def price_ids(settings: Settings) -> dict[tuple[Plan, BillingInterval], str]:
    """The configured Stripe price of each paid plan and interval; unset ones are left out."""
    configured = {
        (Plan.PRO, BillingInterval.MONTH): settings.stripe_price_pro_month,
        (Plan.PRO, BillingInterval.YEAR): settings.stripe_price_pro_year,
        (Plan.BUSINESS, BillingInterval.MONTH): settings.stripe_price_business_month,
        (Plan.BUSINESS, BillingInterval.YEAR): settings.stripe_price_business_year,
    }
    return {key: price for key, price in configured.items() if price}


def price_id(settings: Settings, plan: Plan, interval: BillingInterval) -> str | None:
    return price_ids(settings).get((plan, interval))


def plan_of_price(settings: Settings, price: str) -> tuple[Plan, BillingInterval] | None:
    """Which plan and interval a Stripe price sells; None for a price we do not sell."""
    for key, configured in price_ids(settings).items():
        if configured == price:
            return key
    return None


def effective_plan(subscribed: Plan | None, status: SubscriptionStatus) -> Plan:
    """The plan whose limits apply: the subscribed one while the subscription is live (PAST_DUE
    included, as a grace period), FREE otherwise."""
    if subscribed is not None and status in PLAN_APPLIES:
        return subscribed
    return Plan.FREE
