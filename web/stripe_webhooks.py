"""`POST /webhooks/stripe`: Stripe tells us what happened to payments and subscriptions.

The `Stripe-Signature` header is verified by the stripe library (`Webhook.construct_event`)
against STRIPE_WEBHOOK_SECRET, with a tolerance of STRIPE_WEBHOOK_TOLERANCE seconds on its
timestamp: a missing, forged or stale signature is a 400 and changes nothing. A verified event
is applied by `resolvers.billing_events.process_event`, and answered 200 with what became of it
(`applied`, `stale`, `ignored` or `duplicate`); an error while applying is a 500, so Stripe
delivers again.
"""

from __future__ import annotations

import stripe
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.viewer import Viewer
from engine.context import Context
from resolvers.billing_events import process_event
from services import Services

log = structlog.get_logger("relleks.billing")


def _error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"reason": reason, "message": message}}, status_code=status)


async def stripe_webhook(request: Request) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    request_id = request.scope.get("state", {}).get("request_id", "-")
    if not settings.stripe_webhook_secret:
        return _error(503, "BILLING_NOT_CONFIGURED",
                      "Billing is not configured on this server (no STRIPE_WEBHOOK_SECRET).")
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("stripe-signature"), settings.stripe_webhook_secret,
            tolerance=settings.stripe_webhook_tolerance)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        log.warning("stripe.webhook_refused", request_id=request_id,
                    error_type=type(exc).__name__, error=str(exc).split(".")[0][:200])
        return _error(400, "BAD_SIGNATURE",
                      "The Stripe-Signature header is missing, forged or too old.")
    # No one is signed in: the activity log shows these changes without an actor.
    ctx = Context(request=request, response=Response(), services=services,
                  request_id=request_id, viewer=Viewer())
    data = event.to_dict()
    try:
        outcome = await process_event(ctx, data)
    except Exception as exc:  # Stripe retries anything but a 2xx: nothing was saved
        log.error("stripe.webhook_failed", request_id=request_id, event_id=data.get("id"),
                  type=data.get("type"), error_type=type(exc).__name__, exc_info=exc)
        return _error(500, "INTERNAL", "The event could not be processed; it was not saved.")
    return JSONResponse({"received": True, "id": data.get("id"), "outcome": outcome})
