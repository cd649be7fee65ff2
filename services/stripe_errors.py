"""The billing errors a client can see that are not its fault.

Billing without Stripe keys is UNAVAILABLE (this server was not configured for it), a failing
payment provider INTERNAL; both with a `reason` to branch on and a message that says nothing was
changed. Client mistakes stay BAD_USER_INPUT, CONFLICT, and PLAN_LIMIT (`billing/limits.py`).
"""

from __future__ import annotations

from typing import Any

from core.errors import ApiError, ErrorCode, Unavailable


class BillingNotConfigured(Unavailable):
    """This server has no Stripe key (or no price for what was asked): `make run` without keys."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("Billing is not configured on this server" + (f" ({detail})" if detail
                         else "") + ": nothing was changed.", reason="BILLING_NOT_CONFIGURED")


class PaymentProviderError(ApiError):
    """Stripe failed, timed out or refused a request that our own checks let through."""

    code = ErrorCode.INTERNAL
    UNREACHABLE = "The payment provider did not answer; nothing was changed. Try again."
    REFUSED = ("The payment provider refused the request; nothing was changed. Support can find "
               "the details with the request id.")

    def __init__(self, message: str, request_id: str, **extensions: Any) -> None:
        super().__init__(message, reason="PAYMENT_PROVIDER_ERROR", requestId=request_id,
                         **extensions)
