"""Billing in the API: the public plan catalog, `organization.billing` with its invoices, and
the two mutations that send an OWNER to Stripe (Checkout, Customer Portal).

The API never sees a card number: payment details are typed on Stripe's pages, and what
happens there reaches us through the Stripe webhook (docs/billing.md).
"""

from __future__ import annotations

import datetime
import uuid
from typing import cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from billing import plans as catalog
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum
from engine.permissions import (
    HasPermission,
    org_from_argument,
    org_from_source,
    requires,
)
from models import billing as models
from models.orgs import Organization as OrganizationRow
from resolvers import billing as resolvers
from resolvers.billing import BillingSummary
from services.stripe import HostedSession

PlanCode = models.Plan
described_enum(
    models.Plan, name="PlanCode", description="A plan of the catalog, cheapest first; "
                                              "`plans` gives each one's limits.",
    values={models.Plan.FREE: "Every new organization's plan, and the one an ended "
                              "subscription falls back to. Costs nothing.",
            models.Plan.PRO: "For a growing sales team; paid through Stripe.",
            models.Plan.BUSINESS: "For several teams and their integrations; paid through "
                                  "Stripe."})
BillingInterval = models.BillingInterval
described_enum(
    models.BillingInterval, description="How often a subscription renews and is billed.",
    values={models.BillingInterval.MONTH: "Every month.",
            models.BillingInterval.YEAR: "Every year."})
SubscriptionStatus = models.SubscriptionStatus
described_enum(
    models.SubscriptionStatus,
    description="Stripe's subscription status; NONE when the organization never subscribed. "
                "The plan applies while ACTIVE, TRIALING or PAST_DUE (a grace period while "
                "Stripe retries the payment); any other status falls back to FREE.",
    values={
        models.SubscriptionStatus.NONE: "Never subscribed: on FREE.",
        models.SubscriptionStatus.INCOMPLETE: "The first payment has not succeeded yet; "
                                              "FREE until it does.",
        models.SubscriptionStatus.INCOMPLETE_EXPIRED: "The first payment never succeeded; "
                                                      "ended, back on FREE.",
        models.SubscriptionStatus.TRIALING: "In a free trial; the plan applies.",
        models.SubscriptionStatus.ACTIVE: "Paid up; the plan applies.",
        models.SubscriptionStatus.PAST_DUE: "A renewal payment failed and Stripe is retrying; "
                                            "the plan still applies meanwhile.",
        models.SubscriptionStatus.UNPAID: "Stripe's retries ran out; back on FREE until an "
                                          "invoice is paid.",
        models.SubscriptionStatus.PAUSED: "Paused (a trial ended without a payment method); "
                                          "back on FREE.",
        models.SubscriptionStatus.CANCELED: "Canceled; ended, back on FREE. Subscribing again "
                                            "starts a new subscription.",
    })
InvoiceStatus = models.InvoiceStatus
described_enum(
    models.InvoiceStatus, description="Stripe's invoice status.",
    values={
        models.InvoiceStatus.DRAFT: "Being prepared; not yet due.",
        models.InvoiceStatus.OPEN: "Finalized and awaiting payment.",
        models.InvoiceStatus.PAID: "Paid.",
        models.InvoiceStatus.VOID: "Canceled; nothing is owed.",
        models.InvoiceStatus.UNCOLLECTIBLE: "Written off as unlikely to be paid.",
    })


@strawberry.type(description="What a plan allows. Null means unlimited.")
class PlanLimits:
    members: int | None = strawberry.field(
        description="Members, pending invitations included.")
    leads: int | None = strawberry.field(description="Leads.")
    partner_tokens: int | None = strawberry.field(
        description="Live API tokens (`createApiToken`): revoked and expired ones do not count.")
    ai_credits_per_month: int | None = strawberry.field(
        description="AI assistant credits per calendar month.")
    lead_forms: int | None = strawberry.field(description="Lead forms, paused ones included.")
    form_submissions_per_month: int | None = strawberry.field(
        description="Form submissions taken or awaiting double opt-in per calendar month "
                    "(UTC); past it, new ones are HELD for review.")
    webhook_endpoints: int | None = strawberry.field(
        description="Webhook endpoints, disabled ones included.")


def _limits(limits: catalog.Limits) -> PlanLimits:
    return PlanLimits(members=limits.members, leads=limits.leads,
                      partner_tokens=limits.partner_tokens,
                      ai_credits_per_month=limits.ai_credits_per_month,
                      lead_forms=limits.lead_forms,
                      form_submissions_per_month=limits.form_submissions_per_month,
                      webhook_endpoints=limits.webhook_endpoints)


@strawberry.type(description="A Stripe price that sells a plan.")
class PlanPrice:
    interval: BillingInterval = strawberry.field(
        description="How often it is billed.")
    stripe_price_id: str = strawberry.field(description="The Stripe price id.")


@strawberry.type(description="A plan of the catalog, with its limits and prices.")
class Plan:
    code: PlanCode = strawberry.field(description="The plan.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="Who it is for.")
    limits: PlanLimits = strawberry.field(description="What it allows.")
    prices: list[PlanPrice] = strawberry.field(
        description="The prices configured on this server; empty for FREE, and for every plan "
                    "while billing is not configured.")


@strawberry.type(description="A Stripe invoice of the organization. Amounts are in the "
                             "currency's smallest unit (cents).")
class Invoice(ModelNode):
    model = models.Invoice

    id: relay.NodeID[str]
    number: str | None = strawberry.field(description="The invoice number, once finalized.")
    amount_due: int = strawberry.field(description="What was asked, in cents.")
    amount_paid: int = strawberry.field(description="What was paid, in cents.")
    currency: str = strawberry.field(description="ISO 4217 code, lowercase (e.g. `usd`).")
    status: InvoiceStatus = strawberry.field(
        description="Where the invoice stands.")
    hosted_invoice_url: str | None = strawberry.field(
        description="Stripe's page to see, download or pay the invoice.")

    @strawberry.field(description="When Stripe created the invoice.")
    def created_at(self, root: strawberry.Parent[models.Invoice]) -> datetime.datetime:
        return root.issued_at



@strawberry.type(description="The payment method Stripe charges at renewal, as far as it can "
                             "be shown: nothing else about it is stored. Change it in the "
                             "billing portal (openBillingPortal).")
class PaymentMethod:
    brand: str = strawberry.field(
        description="The card's brand as Stripe names it (`visa`, `mastercard`, `amex`...), or "
                    "the method's type when it is not a card (`sepa_debit`...).")
    last4: str | None = strawberry.field(
        description="The last four digits of the card or account number.")
    exp_month: int | None = strawberry.field(
        description="The card's expiry month (1-12); null for a method that is not a card.")
    exp_year: int | None = strawberry.field(
        description="The card's expiry year (four digits); null for a method that is not a "
                    "card.")


@strawberry.type(description="How much of its plan's limits the organization uses.")
class BillingUsage:
    org_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Members plus pending invitations.")
    async def members(self, info: Info) -> int:
        return await resolvers.usage(info.context, self.org_id, "members")

    @strawberry.field(description="Leads.")
    async def leads(self, info: Info) -> int:
        return await resolvers.usage(info.context, self.org_id, "leads")

    @strawberry.field(description="Lead forms.")
    async def lead_forms(self, info: Info) -> int:
        return await resolvers.usage(info.context, self.org_id, "lead_forms")

    @strawberry.field(description="Webhook endpoints.")
    async def webhook_endpoints(self, info: Info) -> int:
        return await resolvers.usage(info.context, self.org_id, "webhook_endpoints")

    @strawberry.field(description="Form submissions this calendar month (UTC) that were taken "
                                  "or await double opt-in.")
    async def form_submissions_this_month(self, info: Info) -> int:
        return await resolvers.usage(info.context, self.org_id, "form_submissions_per_month")


@strawberry.type(description="An organization's plan and subscription, as Stripe last told us.")
class Billing:
    plan: PlanCode = strawberry.field(
        description="The plan whose limits apply now.")
    subscribed_plan: PlanCode | None = strawberry.field(
        description="The plan of the Stripe subscription, even when it no longer applies (e.g. "
                    "CANCELED); null without one.")
    status: SubscriptionStatus = strawberry.field(
        description="The subscription's status.")
    interval: BillingInterval | None = strawberry.field(
        description="How often the subscription is billed.")
    current_period_end: datetime.datetime | None = strawberry.field(
        description="When the paid period ends (and renews, unless cancelAtPeriodEnd).")
    cancel_at_period_end: bool = strawberry.field(
        description="The subscription ends at currentPeriodEnd, then the plan falls back to "
                    "FREE.")
    trial_ends_at: datetime.datetime | None = strawberry.field(
        description="When the trial ends, for a subscription that has one.")
    in_grace_period: bool = strawberry.field(
        description="A payment failed and Stripe is retrying it (PAST_DUE): the plan still "
                    "applies, until Stripe gives up and cancels.")
    has_customer: bool = strawberry.field(
        description="A Stripe customer exists, so openBillingPortal works.")
    payment_method: PaymentMethod | None = strawberry.field(
        description="The card (or other method) Stripe charges at renewal: the subscription's "
                    "own, else the customer's default. Null without one. Kept current by "
                    "Stripe's webhooks.")

    @strawberry.field(description="The limits of the plan that applies now.")
    def limits(self, root: strawberry.Parent[BillingSummary]) -> PlanLimits:
        return _limits(root.limits)

    @strawberry.field(description="What the organization uses of those limits.")
    def usage(self, root: strawberry.Parent[BillingSummary]) -> BillingUsage:
        return BillingUsage(org_id=root.org_id)

    @relay.connection(Connection[Invoice], description="Invoices, newest first.")
    def invoices(self, root: strawberry.Parent[BillingSummary], info: Info) -> list[Invoice]:
        return cast("list[Invoice]", Rows(resolvers.invoices_query(info.context, root.org_id)))


async def organization_billing(root: strawberry.Parent[OrganizationRow], info: Info) -> Billing:
    return cast("Billing", await resolvers.billing_summary(info.context, root.id))


@strawberry.type(description="What `Organization` holds of billing (`schema/composition.py` "
                             "composes `Organization`). Not in the schema itself.")
class OrganizationBillingFields:
    billing: Billing = strawberry.field(
        resolver=organization_billing,
        description="The plan, subscription and invoices (OWNER and ADMIN: `billing:read`).",
        extensions=[requires(HasPermission(Permission.BILLING_READ, org=org_from_source()))])


@strawberry.input(description="Subscribe an organization to a paid plan through Stripe "
                              "Checkout.")
class StartCheckoutInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    plan: PlanCode = strawberry.field(
        description="PRO or BUSINESS.")
    interval: BillingInterval = strawberry.field(
        description="Billed every MONTH or every YEAR.")


@strawberry.type(description="A Stripe-hosted page to send the user to.")
class BillingSession:
    id: str = strawberry.field(description="Stripe's id of the session.")
    url: str = strawberry.field(description="Where to send the user's browser.")


def _session(session: HostedSession) -> BillingSession:
    return BillingSession(id=session.id, url=session.url)


@strawberry.input(description="The organization whose billing portal to open.")
class OpenBillingPortalInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")


@strawberry.type(description="Where startCheckout sends the OWNER.")
class StartCheckoutPayload:
    billing_session: BillingSession = strawberry.field(
        description="The Stripe Checkout page: send the browser to its `url`.")


@strawberry.type(description="Where openBillingPortal sends the OWNER.")
class OpenBillingPortalPayload:
    billing_session: BillingSession = strawberry.field(
        description="The Stripe Customer Portal: send the browser to its `url`.")


@strawberry.type
class BillingQueries:
    @strawberry.field(description="The plan catalog, cheapest first. Public.")
    def plans(self, info: Info) -> list[Plan]:
        prices = catalog.price_ids(info.context.services.settings) \
            if info.context.services.stripe.configured else {}
        return [Plan(code=spec.code, name=spec.name, description=spec.description,
                     limits=_limits(spec.limits),
                     prices=[PlanPrice(interval=interval, stripe_price_id=price)
                             for (plan, interval), price in prices.items() if plan is spec.code])
                for spec in catalog.PLANS.values()]


@strawberry.type
class BillingMutations:
    @strawberry.mutation(
        description="Start a Stripe Checkout for a paid plan and return its URL (OWNER only: "
                    "`billing:write`). Creates the organization's Stripe customer when it has "
                    "none. An organization with a live subscription changes plan in the billing "
                    "portal instead (CONFLICT, reason ALREADY_SUBSCRIBED).",
        extensions=[requires(HasPermission(Permission.BILLING_WRITE,
                                           org=org_from_argument("input.organization_id")))])
    async def start_checkout(self, info: Info,
                             input: StartCheckoutInput) -> StartCheckoutPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        session = await resolvers.start_checkout(
            info.context, org_id, models.Plan(input.plan),
            models.BillingInterval(input.interval))
        return StartCheckoutPayload(billing_session=_session(session))

    @strawberry.mutation(
        description="Open Stripe's Customer Portal (change plan or payment method, cancel, see "
                    "invoices) and return its URL (OWNER only: `billing:write`).",
        extensions=[requires(HasPermission(Permission.BILLING_WRITE,
                                           org=org_from_argument("input.organization_id")))])
    async def open_billing_portal(self, info: Info,
                                  input: OpenBillingPortalInput) -> OpenBillingPortalPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        session = await resolvers.open_billing_portal(info.context, org_id)
        return OpenBillingPortalPayload(billing_session=_session(session))
