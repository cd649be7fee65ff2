"""A small Stripe for tests, speaking Stripe's REST wire format for exactly the endpoints the API
calls, so that the real `stripe` library does real HTTP against it.

No Stripe fake on PyPI or npm serves Checkout and the Customer Portal (`localstripe` has no
Price, Checkout Session or Billing Portal), hence this one. What it speaks:
- `POST /v1/customers`, `POST /v1/checkout/sessions`, `POST /v1/billing_portal/sessions`, and
  `GET` of each object by id (payment methods too; `expand[]` expands a payment method id):
  form-encoded bodies with Stripe's bracket nesting
  (`line_items[0][price]`), `Authorization: Bearer <secret key>`;
- JSON objects with `object` and `id`, errors as `{"error": {"type", "message", "code",
  "param"}}` with Stripe's status codes, a `Request-Id` header on every answer;
- idempotency: a key replays its first answer (`Idempotent-Replayed: true`), and a key reused
  with other parameters is refused as Stripe refuses it.

Tests play Stripe's side with methods (`complete_checkout`, `update_subscription`,
`cancel_subscription`, `invoice`, `attach_card`, `detach`) that change the objects and return
them, and `event(...)` wraps an object in an event the way Stripe sends it. `fail_next` makes the
next requests fail (an error status, or a delay longer than the client's timeout).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into objects: `a[b][0][c]=v` -> {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = KEY.match(key)
        if match is None:
            raise ValueError(f"bad parameter name {key!r}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: Any = root
        for part, following in zip(parts, [*parts[1:], None], strict=True):
            container: Any = [] if following is not None and following.isdigit() else {}
            if following is None:
                _put(node, part, value)
            else:
                node = _child(node, part, container)
    return root


def _put(node: Any, part: str, value: Any) -> None:
    if isinstance(node, list):
        index = int(part)
        while len(node) <= index:
            node.append(None)
        node[index] = value
    else:
        node[part] = value


def _child(node: Any, part: str, container: Any) -> Any:
    if isinstance(node, list):
        index = int(part)
        while len(node) <= index:
            node.append(None)
        if node[index] is None:
            node[index] = container
        return node[index]
    return node.setdefault(part, container)


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    headers: dict[str, str]


@dataclass
class Fault:
    """What the next request suffers: a `delay` (then the normal answer, as when Stripe is
    slow: the work is done even if the client gave up), or an error `status` after the delay."""

    status: int | None = 500
    delay: float = 0.0
    error_type: str = "api_error"
    message: str = "Something went wrong on Stripe's end."
    should_retry: bool | None = None


@dataclass
class FakeStripe:
    api_key: str
    prices: dict[str, str]  # price id -> recurring interval ("month" or "year")
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    replies: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = field(default_factory=dict)
    clock: int = field(default_factory=lambda: int(time.time()))
    generation: int = 0  # bumped by reset: a slow request of an earlier test then does nothing
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            for store in (self.customers, self.checkout_sessions, self.portal_sessions,
                          self.subscriptions, self.invoices, self.payment_methods,
                          self.replies):
                store.clear()
            self.calls.clear()
            self.faults.clear()
            self.generation += 1

    def fail_next(self, count: int = 1, **fault: Any) -> None:
        for _ in range(count):
            self.faults.append(Fault(**fault))

    def posts(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.method == "POST" and call.path == path]

    def asked(self, path: str) -> list[Call]:
        """The POSTs to `path` our API asked for: the first of each idempotency key.

        The library retries an attempt that outlives STRIPE_TIMEOUT with the same key, which a
        loaded CI machine does now and then; a test that counts what we asked Stripe to do
        counts these, and one that checks the retries themselves counts `posts`."""
        seen: set[str | None] = set()
        asked = []
        for call in self.posts(path):
            if call.idempotency_key is None or call.idempotency_key not in seen:
                seen.add(call.idempotency_key)
                asked.append(call)
        return asked

    # The HTTP side

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/customers", self._create_customer, methods=["POST"]),
            Route("/v1/customers/{id}", self._get(self.customers, "customer"),
                  methods=["GET"]),
            Route("/v1/payment_methods/{id}",
                  self._get(self.payment_methods, "payment_method"), methods=["GET"]),
            Route("/v1/checkout/sessions", self._create_checkout_session, methods=["POST"]),
            Route("/v1/checkout/sessions/{id}",
                  self._get(self.checkout_sessions, "checkout.session"), methods=["GET"]),
            Route("/v1/billing_portal/sessions", self._create_portal_session,
                  methods=["POST"]),
            Route("/v1/subscriptions/{id}", self._get(self.subscriptions, "subscription"),
                  methods=["GET"]),
            Route("/v1/subscriptions/{id}", self._update_subscription_call, methods=["POST"]),
            Route("/v1/subscriptions/{id}", self._cancel_subscription, methods=["DELETE"]),
            Route("/v1/invoices/{id}", self._get(self.invoices, "invoice"), methods=["GET"]),
            Route("/{path:path}", self._unknown, methods=["GET", "POST", "DELETE"]),
        ])

    @staticmethod
    def error(status: int, error_type: str, message: str, *, code: str | None = None,
              param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
        body: dict[str, Any] = {"type": error_type, "message": message}
        if code:
            body["code"] = code
        if param:
            body["param"] = param
        return JSONResponse({"error": body}, status_code=status,
                            headers={"Request-Id": new_id("req"), **(headers or {})})

    async def _begin(self, request: Request) -> tuple[dict[str, Any], JSONResponse | None]:
        """Record the call; answer it at once if it fails auth or a fault is due."""
        pairs = list((await request.form()).multi_items()) if request.method == "POST" \
            else list(request.query_params.multi_items())
        params = nest([(k, str(v)) for k, v in pairs])
        key = request.headers.get("idempotency-key")
        with self.lock:
            generation = self.generation
            self.calls.append(Call(request.method, request.url.path, params, key,
                                   dict(request.headers)))
            fault = self.faults.popleft() if self.faults else None
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return params, self.error(401, "invalid_request_error",
                                      "Invalid API Key provided: sk_test_****")
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
                if generation != self.generation:
                    return params, self.error(500, "api_error", "Reset while waiting.")
            if fault.status is None:
                return params, None
            headers = {} if fault.should_retry is None else \
                {"Stripe-Should-Retry": "true" if fault.should_retry else "false"}
            return params, self.error(fault.status, fault.error_type, fault.message,
                                      headers=headers)
        return params, None

    def _idempotent(self, request: Request, params: dict[str, Any],
                    create: Any) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        if key and key in self.replies:
            first_params, status, body = self.replies[key]
            if first_params != params:
                return self.error(400, "idempotency_error",
                                  "Keys for idempotent requests can only be used with the same "
                                  "parameters they were first used with.")
            return JSONResponse(body, status_code=status,
                                headers={"Request-Id": new_id("req"),
                                         "Idempotent-Replayed": "true"})
        result = create(params)
        if isinstance(result, JSONResponse):
            return result
        if key:
            self.replies[key] = (params, 200, result)
        return JSONResponse(result, headers={"Request-Id": new_id("req")})

    def _get(self, store: dict[str, dict[str, Any]], kind: str) -> Any:
        async def get(request: Request) -> JSONResponse:
            params, refused = await self._begin(request)
            if refused is not None:
                return refused
            found = store.get(request.path_params["id"])
            if found is None:
                return self.error(404, "invalid_request_error",
                                  f"No such {kind}: '{request.path_params['id']}'",
                                  code="resource_missing", param="id")
            expand = params.get("expand") or []
            expand = list(expand.values()) if isinstance(expand, dict) else expand
            return JSONResponse(self.expanded(found, expand),
                                headers={"Request-Id": new_id("req")})
        return get

    def expanded(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """A copy of `obj` with each `expand[]` path (`a.b`) that names a payment method id
        replaced by the payment method object, as Stripe expands it."""
        result = json.loads(json.dumps(obj))
        for path in paths:
            *parents, last = str(path).split(".")
            node: Any = result
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get(last), str):
                found = self.payment_methods.get(node[last])
                if found is not None:
                    node[last] = json.loads(json.dumps(found))
        return result

    def _live_subscription(self, subscription_id: str) -> dict[str, Any] | JSONResponse:
        """The subscription, or Stripe's refusal: no such one, or it has ended (an ended
        subscription can only have its metadata changed)."""
        found = self.subscriptions.get(subscription_id)
        if found is None:
            return self.error(404, "invalid_request_error",
                              f"No such subscription: '{subscription_id}'",
                              code="resource_missing", param="id")
        if found["status"] == "canceled":
            return self.error(400, "invalid_request_error",
                              "A canceled subscription can only update its metadata.")
        return found

    async def _cancel_subscription(self, request: Request) -> JSONResponse:
        """`DELETE /v1/subscriptions/{id}`: cancel now."""
        params, refused = await self._begin(request)
        if refused is not None:
            return refused
        subscription_id = request.path_params["id"]

        def cancel(params: dict[str, Any]) -> dict[str, Any] | JSONResponse:
            found = self._live_subscription(subscription_id)
            if isinstance(found, JSONResponse):
                return found
            return self.cancel_subscription(subscription_id)

        return self._idempotent(request, params, cancel)

    async def _update_subscription_call(self, request: Request) -> JSONResponse:
        """`POST /v1/subscriptions/{id}`: only `cancel_at_period_end`."""
        params, refused = await self._begin(request)
        if refused is not None:
            return refused
        subscription_id = request.path_params["id"]

        def update(params: dict[str, Any]) -> dict[str, Any] | JSONResponse:
            found = self._live_subscription(subscription_id)
            if isinstance(found, JSONResponse):
                return found
            if set(params) - {"cancel_at_period_end"}:
                return self.error(400, "invalid_request_error", "The fake updates only "
                                  "cancel_at_period_end.", param=sorted(params)[0])
            value = params.get("cancel_at_period_end")
            if value not in {"true", "false"}:
                return self.error(400, "invalid_request_error", "Invalid boolean.",
                                  param="cancel_at_period_end")
            subscription, _ = self.update_subscription(
                subscription_id, cancel_at_period_end=value == "true")
            return subscription

        return self._idempotent(request, params, update)

    async def _unknown(self, request: Request) -> JSONResponse:
        return self.error(404, "invalid_request_error",
                          f"Unrecognized request URL ({request.method}: {request.url.path}).")

    async def _create_customer(self, request: Request) -> JSONResponse:
        params, refused = await self._begin(request)
        if refused is not None:
            return refused

        def create(params: dict[str, Any]) -> dict[str, Any]:
            customer = {"id": new_id("cus"), "object": "customer", "created": self.clock,
                        "email": params.get("email"), "name": params.get("name"),
                        "invoice_settings": {"default_payment_method": None},
                        "metadata": params.get("metadata") or {}, "livemode": False}
            self.customers[customer["id"]] = customer
            return customer
        return self._idempotent(request, params, create)

    async def _create_checkout_session(self, request: Request) -> JSONResponse:
        params, refused = await self._begin(request)
        if refused is not None:
            return refused

        def create(params: dict[str, Any]) -> dict[str, Any] | JSONResponse:
            if params.get("mode") not in {"payment", "setup", "subscription"}:
                return self.error(400, "invalid_request_error", "Invalid mode.",
                                  param="mode")
            customer = params.get("customer")
            if customer and customer not in self.customers:
                return self.error(400, "invalid_request_error",
                                  f"No such customer: '{customer}'",
                                  code="resource_missing", param="customer")
            for n, item in enumerate(params.get("line_items") or []):
                if item.get("price") not in self.prices:
                    return self.error(400, "invalid_request_error",
                                      f"No such price: '{item.get('price')}'",
                                      code="resource_missing", param=f"line_items[{n}][price]")
            if not params.get("success_url"):
                return self.error(400, "invalid_request_error",
                                  "Missing required param: success_url.",
                                  code="parameter_missing", param="success_url")
            session_id = new_id("cs_test")
            session = {
                "id": session_id, "object": "checkout.session", "mode": params["mode"],
                "customer": customer, "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata") or {},
                "subscription_data": params.get("subscription_data") or {},
                "line_items": params.get("line_items") or [],
                "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
                "status": "open", "payment_status": "unpaid", "subscription": None,
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "created": self.clock, "expires_at": self.clock + 86400, "livemode": False,
            }
            self.checkout_sessions[session_id] = session
            return session
        return self._idempotent(request, params, create)

    async def _create_portal_session(self, request: Request) -> JSONResponse:
        params, refused = await self._begin(request)
        if refused is not None:
            return refused

        def create(params: dict[str, Any]) -> dict[str, Any] | JSONResponse:
            customer = params.get("customer")
            if customer not in self.customers:
                return self.error(400, "invalid_request_error",
                                  f"No such customer: '{customer}'",
                                  code="resource_missing", param="customer")
            session_id = new_id("bps")
            session = {"id": session_id, "object": "billing_portal.session",
                       "customer": customer, "return_url": params.get("return_url"),
                       "url": f"https://billing.stripe.com/p/session/test_{session_id}",
                       "created": self.clock, "livemode": False}
            self.portal_sessions[session_id] = session
            return session
        return self._idempotent(request, params, create)

    # Stripe's side, played by the tests

    def tick(self, seconds: int = 1) -> int:
        self.clock += seconds
        return self.clock

    def complete_checkout(self, session_id: str, *, status: str = "active",
                          trial_days: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
        """The customer paid on the Checkout page: the session completes and a subscription
        to its price exists. Returns (session, subscription)."""
        session = self.checkout_sessions[session_id]
        price = session["line_items"][0]["price"]
        now = self.clock
        metadata = (session.get("subscription_data") or {}).get("metadata") or {}
        subscription = self.new_subscription(session["customer"], price, status=status,
                                             metadata=metadata, trial_days=trial_days)
        session.update(status="complete", subscription=subscription["id"],
                       payment_status="no_payment_required" if trial_days else "paid")
        session["created"] = now
        return dict(session), subscription

    def new_subscription(self, customer: str, price: str, *, status: str = "active",
                         metadata: dict[str, Any] | None = None,
                         trial_days: int = 0) -> dict[str, Any]:
        now = self.clock
        interval = self.prices[price]
        period = 365 * 86400 if interval == "year" else 30 * 86400
        subscription = {
            "id": new_id("sub"), "object": "subscription", "customer": customer,
            "status": "trialing" if trial_days else status, "created": now,
            "cancel_at_period_end": False, "cancel_at": None, "canceled_at": None,
            "default_payment_method": None,
            "trial_end": now + trial_days * 86400 if trial_days else None,
            "metadata": metadata or {}, "livemode": False,
            "items": {"object": "list", "data": [{
                "id": new_id("si"), "object": "subscription_item", "quantity": 1,
                "price": {"id": price, "object": "price",
                          "recurring": {"interval": interval, "interval_count": 1}},
                "current_period_start": now, "current_period_end": now + period,
            }]},
        }
        self.subscriptions[subscription["id"]] = subscription
        return json.loads(json.dumps(subscription))

    def update_subscription(self, subscription_id: str, *, price: str | None = None,
                            **changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Change a subscription as the portal or dunning would; returns the new object and
        Stripe's `previous_attributes`."""
        subscription = self.subscriptions[subscription_id]
        previous = {key: subscription.get(key) for key in changes}
        subscription.update(changes)
        if price is not None:
            item = subscription["items"]["data"][0]
            previous["items"] = json.loads(json.dumps(subscription["items"]))
            item["price"] = {"id": price, "object": "price",
                             "recurring": {"interval": self.prices[price], "interval_count": 1}}
        return json.loads(json.dumps(subscription)), previous

    def attach_card(self, customer: str, *, brand: str = "visa", last4: str = "4242",
                    exp_month: int = 12, exp_year: int = 2030, make_default: bool = True,
                    kind: str = "card") -> tuple[dict[str, Any], dict[str, Any]]:
        """The customer adds a payment method in the portal (and makes it the default, as the
        portal does): returns (payment method, customer), as the events carry them."""
        details: dict[str, Any] = {"last4": last4}
        if kind == "card":
            details |= {"brand": brand, "exp_month": exp_month, "exp_year": exp_year,
                        "country": "US", "funding": "credit", "fingerprint": "fpr_secret",
                        "checks": {"cvc_check": "pass"}}
        method = {"id": new_id("pm"), "object": "payment_method", "type": kind,
                  "customer": customer, "created": self.clock, "livemode": False,
                  "billing_details": {"name": "Ada Lovelace", "email": "ada@example.com",
                                      "address": {"postal_code": "12345"}},
                  kind: details}
        self.payment_methods[method["id"]] = method
        if make_default:
            self.customers[customer].setdefault("invoice_settings", {})[
                "default_payment_method"] = method["id"]
        return json.loads(json.dumps(method)), json.loads(json.dumps(self.customers[customer]))

    def detach(self, method_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The payment method is removed: returns it and its previous attributes."""
        method = self.payment_methods[method_id]
        customer = method["customer"]
        method["customer"] = None
        settings = self.customers[customer].get("invoice_settings") or {}
        if settings.get("default_payment_method") == method_id:
            settings["default_payment_method"] = None
        for subscription in self.subscriptions.values():
            if subscription.get("default_payment_method") == method_id:
                subscription["default_payment_method"] = None
        return json.loads(json.dumps(method)), {"customer": customer}

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        subscription, _ = self.update_subscription(subscription_id, status="canceled",
                                                   canceled_at=self.clock,
                                                   cancel_at_period_end=False)
        return subscription

    def invoice(self, subscription_id: str, *, status: str, amount: int = 2900,
                currency: str = "usd", invoice_id: str | None = None) -> dict[str, Any]:
        """An invoice of the subscription, new or (with `invoice_id`) moved to `status`."""
        subscription = self.subscriptions[subscription_id]
        if invoice_id is None:
            invoice_id = new_id("in")
            number = f"RLK-{len(self.invoices) + 1:04d}"
            self.invoices[invoice_id] = {
                "id": invoice_id, "object": "invoice", "customer": subscription["customer"],
                "number": number, "amount_due": amount, "amount_paid": 0,
                "amount_remaining": amount, "currency": currency, "created": self.clock,
                "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
                "livemode": False, "status": "open",
                "parent": {"type": "subscription_details", "quote_details": None,
                           "subscription_details": {"subscription": subscription_id,
                                                    "metadata": subscription["metadata"]}},
            }
        invoice = self.invoices[invoice_id]
        invoice["status"] = status
        if status == "paid":
            invoice.update(amount_paid=invoice["amount_due"], amount_remaining=0)
        return json.loads(json.dumps(invoice))

    def event(self, event_type: str, obj: dict[str, Any], *, created: int | None = None,
              previous_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        """An event as Stripe's webhook delivers it (API version of the stripe library)."""
        data: dict[str, Any] = {"object": obj}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        return {
            "id": new_id("evt"), "object": "event", "api_version": "2026-10-28.endive",
            "created": self.clock if created is None else created, "data": data,
            "livemode": False, "pending_webhooks": 1, "type": event_type,
            "request": {"id": new_id("req"), "idempotency_key": None},
        }


class FakeStripeServer:
    """Serve a FakeStripe with uvicorn on 127.0.0.1 in a thread, for the session."""

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fake-stripe", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake Stripe server did not start")
            time.sleep(0.01)
        (sock,) = self.server.servers[0].sockets
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
