"""The public plan catalog: FREE, PRO and BUSINESS with their limits and configured prices."""

from __future__ import annotations

import itertools

import pytest

from billing.plans import PLANS
from models.billing import Plan
from tests.billing.conftest import FakeStripe
from tests.conftest import Api

PLANS_QUERY = """{ plans { code name description
  limits { members leads partnerTokens aiCreditsPerMonth }
  prices { interval stripePriceId } } }"""


async def test_plans_are_public_with_limits_and_prices(api: Api, stripe: FakeStripe) -> None:
    body = await api.gql(PLANS_QUERY)  # no token: anyone may read the catalog
    assert "errors" not in body, body
    plans = {plan["code"]: plan for plan in body["data"]["plans"]}
    assert list(plans) == ["FREE", "PRO", "BUSINESS"]
    assert plans["FREE"]["prices"] == []
    assert plans["PRO"]["prices"] == [
        {"interval": "MONTH", "stripePriceId": "price_pro_month"},
        {"interval": "YEAR", "stripePriceId": "price_pro_year"}]
    assert plans["BUSINESS"]["prices"] == [
        {"interval": "MONTH", "stripePriceId": "price_business_month"},
        {"interval": "YEAR", "stripePriceId": "price_business_year"}]
    for code, plan in plans.items():
        limits = PLANS[Plan[code]].limits
        assert plan["limits"] == {"members": limits.members, "leads": limits.leads,
                                  "partnerTokens": limits.partner_tokens,
                                  "aiCreditsPerMonth": limits.ai_credits_per_month}
        assert plan["name"] and plan["description"]
    assert stripe.calls == []  # the catalog is ours: Stripe is not asked


@pytest.mark.no_db
def test_each_plan_allows_at_least_what_the_one_below_does() -> None:
    specs = list(PLANS.values())
    for smaller, bigger in itertools.pairwise(specs):
        for name in ("members", "leads", "partner_tokens", "ai_credits_per_month"):
            small, big = smaller.limits.of(name), bigger.limits.of(name)
            assert big is None or (small is not None and big >= small), name
