"""The Stripe API calls we make, through the official `stripe` library.

One `StripeGateway` per app (`services.stripe`). Every call:
- carries an idempotency key derived from what it asks (and, for sessions, the request id), so
  the library's own retries and a client retrying the same request never create twice;
- has a timeout: STRIPE_TIMEOUT per attempt, STRIPE_MAX_NETWORK_RETRIES retries, and at most
  CALL_SHARE of the request's EXECUTION_TIMEOUT in all, so that a slow Stripe is reported as
  such and not as the whole request timing out;
- turns any Stripe failure into `PaymentProviderError` with the request id, after logging what
  Stripe said. Callers make their calls before writing anything, so a failure leaves our
  database as it was.

    gateway = StripeGateway(settings)
    customer = await gateway.create_customer(org_id=..., name="Acme", email=..., request_id=...)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import stripe
import structlog

from core import tracing
from core.settings import Settings
from services.stripe_errors import BillingNotConfigured, PaymentProviderError

if TYPE_CHECKING:
    from stripe.params import CustomerCreateParams, SubscriptionUpdateParams
    from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
    from stripe.params.checkout import SessionCreateParams as CheckoutSessionCreateParams

log = structlog.get_logger("relleks.billing")
T = TypeVar("T")

# Failures where Stripe did not (reliably) answer: worth trying again.
UNREACHABLE = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)
CALL_SHARE = 0.4  # a mutation makes at most two Stripe calls within its execution budget

# stripe's HTTPXClient hands httpx its form body as `data=` (a string), which httpx deprecates for
# `content=`: the stripe library's to change, not ours. Exactly that warning is ignored, so that a
# server run with PYTHONWARNINGS=default prints nothing on each Stripe call.
warnings.filterwarnings("ignore", message=r"Use 'content=<\.\.\.>' to upload raw bytes",
                        category=DeprecationWarning, module=r"httpx\._models")


@dataclass(frozen=True)
class CardSummary:
    """What we keep of a payment method: enough to recognise it, nothing to charge it with."""

    brand: str
    last4: str | None
    exp_month: int | None
    exp_year: int | None


def card_summary(method: Any) -> CardSummary | None:
    """The display fields of a Stripe PaymentMethod (a card, or another type's `last4`)."""
    if not method or isinstance(method, str):
        return None
    kind = str(method.get("type") or "card")
    details = method.get(kind) or {}
    if kind == "card":
        return CardSummary(brand=str(details.get("brand") or "unknown")[:32],
                           last4=_last4(details.get("last4")),
                           exp_month=_int(details.get("exp_month")),
                           exp_year=_int(details.get("exp_year")))
    return CardSummary(brand=kind[:32], last4=_last4(details.get("last4")), exp_month=None,
                       exp_year=None)


def _last4(value: Any) -> str | None:
    text = str(value or "")
    return text if len(text) == 4 and text.isdigit() else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class HostedSession:
    """A Stripe-hosted page (Checkout or the Customer Portal) the client sends the user to."""

    id: str
    url: str


def idempotency_key(kind: str, org_id: uuid.UUID, params: Mapping[str, object],
                    scope: str = "") -> str:
    """Same org, same parameters (and same scope, e.g. the request id) -> same key. Stripe
    refuses a key reused with other parameters, hence the parameters' digest in it."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
    return f"relleks:{kind}:{org_id}:{scope}:{digest}"[:255]


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: stripe.StripeClient | None = None
        self._http: stripe.HTTPXClient | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.stripe_secret_key)

    def _stripe(self) -> stripe.StripeClient:
        """The client, built on first use: an app without a key never builds one."""
        if not self.settings.stripe_secret_key:
            raise BillingNotConfigured()
        if self._client is None:
            self._http = stripe.HTTPXClient(timeout=self.settings.stripe_timeout)
            bases: Any = {"api": self.settings.stripe_api_base} \
                if self.settings.stripe_api_base else None
            self._client = stripe.StripeClient(
                self.settings.stripe_secret_key, http_client=self._http, base_addresses=bases,
                max_network_retries=self.settings.stripe_max_network_retries)
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close_async()
            self._client = self._http = None

    async def create_customer(self, *, org_id: uuid.UUID, name: str, email: str,
                              request_id: str) -> str:
        """A Stripe customer for the organization; its id."""
        params: CustomerCreateParams = {"name": name, "email": email,
                                        "metadata": {"organization_id": str(org_id)}}
        key = idempotency_key("customer", org_id, params)
        customer = await self._call("customers.create", request_id, lambda client: (
            client.v1.customers.create_async(params, {"idempotency_key": key})))
        return str(customer.id)

    async def create_checkout_session(self, *, org_id: uuid.UUID, customer_id: str,
                                      price: str, metadata: dict[str, str],
                                      request_id: str) -> HostedSession:
        """A Checkout Session that subscribes the customer to `price`."""
        base = self.settings.public_url.rstrip("/")
        params: CheckoutSessionCreateParams = {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": price, "quantity": 1}],
            "client_reference_id": str(org_id),
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "success_url": f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base}/billing",
        }
        key = idempotency_key("checkout", org_id, params, request_id)
        session = await self._call("checkout.sessions.create", request_id, lambda client: (
            client.v1.checkout.sessions.create_async(params, {"idempotency_key": key})))
        return HostedSession(id=str(session.id), url=str(session.url))

    async def create_portal_session(self, *, org_id: uuid.UUID, customer_id: str,
                                    request_id: str) -> HostedSession:
        """A Customer Portal session: change plan, payment method, cancel, see invoices."""
        params: PortalSessionCreateParams = {
            "customer": customer_id,
            "return_url": f"{self.settings.public_url.rstrip('/')}/billing",
        }
        key = idempotency_key("portal", org_id, params, request_id)
        session = await self._call("billing_portal.sessions.create", request_id, lambda client: (
            client.v1.billing_portal.sessions.create_async(params, {"idempotency_key": key})))
        return HostedSession(id=str(session.id), url=str(session.url))

    async def cancel_subscription(self, *, org_id: uuid.UUID, subscription_id: str,
                                  request_id: str) -> str:
        """End the subscription now (the organization is being deleted); its final status.
        Idempotent: a subscription Stripe already ended is left as it is."""
        subscription = await self._call("subscriptions.retrieve", request_id, lambda client: (
            client.v1.subscriptions.retrieve_async(subscription_id)))
        if subscription.status in {"canceled", "incomplete_expired"}:
            return str(subscription.status)
        key = idempotency_key("cancel", org_id, {"subscription": subscription_id})
        canceled = await self._call("subscriptions.cancel", request_id, lambda client: (
            client.v1.subscriptions.cancel_async(subscription_id, None,
                                                 {"idempotency_key": key})))
        return str(canceled.status)

    async def set_renewal(self, *, org_id: uuid.UUID, subscription_id: str, renew: bool,
                          request_id: str) -> bool:
        """Stop (`renew=False`) or resume the subscription's renewal at the end of the period
        already paid for; whether it will now end then (Stripe's `cancel_at_period_end`)."""
        params: SubscriptionUpdateParams = {"cancel_at_period_end": not renew}
        key = idempotency_key("renewal", org_id, {"subscription": subscription_id, **params},
                              request_id)
        updated = await self._call("subscriptions.update", request_id, lambda client: (
            client.v1.subscriptions.update_async(subscription_id, params,
                                                 {"idempotency_key": key})))
        return bool(updated.cancel_at_period_end)

    async def default_payment_method(self, *, org_id: uuid.UUID, customer_id: str,
                                     subscription_id: str | None,
                                     request_id: str) -> CardSummary | None:
        """The payment method Stripe charges at renewal: the live subscription's own
        `default_payment_method` if it has one, else the customer's
        `invoice_settings.default_payment_method`; None when there is neither."""
        if subscription_id:
            subscription = await self._call("subscriptions.retrieve", request_id, lambda c: (
                c.v1.subscriptions.retrieve_async(
                    subscription_id, {"expand": ["default_payment_method"]})))
            if subscription.status not in {"canceled", "incomplete_expired"}:
                found = card_summary(subscription.to_dict().get("default_payment_method"))
                if found is not None:
                    return found
        customer = await self._call("customers.retrieve", request_id, lambda c: (
            c.v1.customers.retrieve_async(
                customer_id, {"expand": ["invoice_settings.default_payment_method"]})))
        settings = customer.to_dict().get("invoice_settings") or {}
        return card_summary(settings.get("default_payment_method"))

    async def _call(self, what: str, request_id: str,
                    call: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        with tracing.span(f"stripe {what}", kind=tracing.SpanKind.CLIENT, attributes={
                "rpc.system": "stripe", "rpc.method": what,
                "server.address": self.settings.stripe_api_base or "api.stripe.com"}):
            return await self._call_stripe(what, request_id, call)

    async def _call_stripe(self, what: str, request_id: str,
                           call: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        client = self._stripe()
        deadline = self.settings.execution_timeout * CALL_SHARE
        try:
            async with asyncio.timeout(deadline):
                return await call(client)
        except TimeoutError as exc:
            log.warning("stripe.call_timed_out", call=what, request_id=request_id,
                        deadline=deadline)
            raise PaymentProviderError(PaymentProviderError.UNREACHABLE, request_id) from exc
        except stripe.StripeError as exc:
            log.warning("stripe.call_failed", call=what, request_id=request_id,
                        error_type=type(exc).__name__, http_status=exc.http_status,
                        stripe_code=exc.code, stripe_request_id=exc.request_id,
                        stripe_message=exc.user_message)
            message = PaymentProviderError.UNREACHABLE if isinstance(exc, UNREACHABLE) \
                else PaymentProviderError.REFUSED
            raise PaymentProviderError(message, request_id) from exc
