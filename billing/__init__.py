"""Billing rules: the plan catalog (`plans`), what each plan allows (`limits`) and what each
caller may spend on queries (`budgets`).

Stripe is reached through `services/stripe.py`; its webhook is `web/stripe_webhooks.py`, which
hands each event to `resolvers/billing_events.py`. The GraphQL side is in `schema/billing.py`
and `resolvers/billing.py`; docs/billing.md describes the whole.

Layer: beside `oauth`, below `resolvers`, above the engine and everything under it.
"""
