"""Billing through Stripe: the plan catalog (`plans`), plan limits (`limits`), the Stripe API
calls (`gateway`), and the webhook that keeps each organization's plan in step with Stripe
(`webhooks`, `events`). The GraphQL side is in `schema/billing.py` and `resolvers/billing.py`;
docs/billing.md describes the whole.
"""
