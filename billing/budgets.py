"""Who spends what on queries: each caller's budget, by plan.

An API token or an OAuth grant (a partner app in one org) spends its own budget, which follows
its organization's plan (`BUDGETS_BY_PLAN`); a signed-in person theirs, by the best plan among
the organizations they belong to (`PERSON_BUDGETS_BY_PLAN`); an anonymous caller its IP's
(`ANONYMOUS_BUDGET`). `CostBudgets` keeps the counters (Redis, or process memory) and is the
app's `services.cost_budgets`, built by the composition root. The engine prices each query
(`engine/cost.py`); docs/partner-tokens.md has the whole model.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from limits.aio.storage import Storage
from limits.storage import storage_from_string

from billing.plans import effective_plan
from core.settings import Settings, limits_storage_uri
from models.billing import BillingAccount, Plan
from models.orgs import Membership
from models.tenancy import system_scope
from services.budgets import Budget, Caller, CostReport

# The per-caller budgets, in one place (the plan catalog, `billing/plans.py`, holds the other
# limits; it has no budget field yet). An API token spends from its organization's plan.
BUDGETS_BY_PLAN: dict[Plan, Budget] = {
    Plan.FREE: Budget(250_000, 3600),
    Plan.PRO: Budget(1_000_000, 3600),
    Plan.BUSINESS: Budget(5_000_000, 3600),
}
PERSON_BUDGETS_BY_PLAN: dict[Plan, Budget] = {
    Plan.FREE: Budget(500_000, 3600),
    Plan.PRO: Budget(2_000_000, 3600),
    Plan.BUSINESS: Budget(10_000_000, 3600),
}
"""Per signed-in person, by the best plan among their organizations: on Free about one Q1
every 3 seconds, all hour."""
PERSON_BUDGET = PERSON_BUDGETS_BY_PLAN[Plan.FREE]
"""A person in no paying organization (or in none at all)."""
ANONYMOUS_BUDGET = Budget(20_000, 3600)
"""Per IP, for callers without a credential (sign-up, log-in, the scope list)."""
PLAN_CACHE_SECONDS = 60.0
"""How long a caller's plan is remembered in process: a plan change applies within a minute."""


@dataclass
class CostBudgets:
    """The budgets of every caller, for one app: counters in Redis or in process memory.

    A fixed window per caller: the first request of a window starts it, the window's budget
    refills at its end."""

    settings: Settings
    by_plan: dict[Plan, Budget] = field(default_factory=lambda: dict(BUDGETS_BY_PLAN))
    person_by_plan: dict[Plan, Budget] = field(
        default_factory=lambda: dict(PERSON_BUDGETS_BY_PLAN))
    anonymous: Budget = ANONYMOUS_BUDGET
    key_prefix: str = "LIMITS"
    """The counters' Redis key prefix: the `limits` default, shared with the sign-in limits."""
    storage: Storage = field(init=False)
    _plans: dict[str, tuple[float, Plan]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        scale = self.settings.cost_budget_scale
        if scale != 1:
            self.by_plan = {plan: Budget(max(1, int(b.points * scale)), b.window)
                            for plan, b in self.by_plan.items()}
            self.person_by_plan = {plan: Budget(max(1, int(b.points * scale)), b.window)
                                   for plan, b in self.person_by_plan.items()}
            self.anonymous = Budget(max(1, int(self.anonymous.points * scale)),
                                    self.anonymous.window)
        url = self.settings.redis_url
        self.storage = cast(Storage, storage_from_string(  # async+ URIs: asyncio storages
            limits_storage_uri(url),
            key_prefix=self.key_prefix))

    async def caller(self, context: Any) -> Caller:
        viewer = context.viewer
        if viewer.token is not None:
            org_id = viewer.token.organization_id
            plan = await self._plan(f"org:{org_id}", lambda: _best_plan([org_id]))
            return Caller(f"token:{viewer.token.id}", self.by_plan[plan])
        if viewer.grant is not None:
            org_id = viewer.grant.organization_id
            plan = await self._plan(f"org:{org_id}", lambda: _best_plan([org_id]))
            return Caller(f"oauth:{viewer.grant.id}", self.by_plan[plan])
        if viewer.user is not None:
            user_id = viewer.user.id
            plan = await self._plan(f"user:{user_id}", lambda: _persons_plan(user_id))
            return Caller(f"user:{user_id}", self.person_by_plan[plan])
        return Caller(f"ip:{context.client_ip}", self.anonymous)

    async def _plan(self, key: str, find: Any) -> Plan:
        now = time.monotonic()
        cached = self._plans.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        plan = await find()
        if len(self._plans) > 10_000:
            self._plans.clear()
        self._plans[key] = (now + PLAN_CACHE_SECONDS, plan)
        return plan

    def _key(self, caller: Caller) -> str:
        return f"relleks:cost:{caller.budget.window}:{caller.key}"

    async def spend(self, caller: Caller, cost: int) -> tuple[bool, CostReport]:
        """Take `cost` from the caller's budget; (False, report) when it does not fit, and
        then nothing is taken."""
        key, budget = self._key(caller), caller.budget
        used = await self.storage.incr(key, budget.window, amount=cost)
        allowed = used <= budget.points
        if not allowed:
            # Give it back (limits' Redis storage has no decr; INCRBY takes a negative).
            used = await self.storage.incr(key, budget.window, amount=-cost)
        return allowed, await self._report(key, budget, cost, used)

    async def peek(self, caller: Caller) -> CostReport:
        key = self._key(caller)
        return await self._report(key, caller.budget, 0, await self.storage.get(key))

    async def _expiry(self, key: str) -> float:
        """When the key's window ends, to the millisecond.

        `limits`' Redis storage answers from `TTL`, which Redis rounds to whole seconds, so two
        requests in one window could report `resetAt` a second apart; `PTTL` keeps it steady."""
        bridge = getattr(self.storage, "bridge", None)
        if bridge is None:  # process memory: its expiry is exact
            return await self.storage.get_expiry(key)
        milliseconds = await bridge.get_connection().pttl(bridge.prefixed_key(key))
        return time.time() + max(milliseconds, 0) / 1000

    async def _report(self, key: str, budget: Budget, cost: int, used: int) -> CostReport:
        reset = await self._expiry(key) if used else 0.0
        if reset <= time.time():
            reset = time.time() + budget.window
        return CostReport(requested=cost, limit=budget.points,
                          remaining=max(0, budget.points - used), reset=reset)

    async def reset(self) -> None:
        await self.storage.reset()


async def _best_plan(org_ids: Iterable[uuid.UUID]) -> Plan:
    accounts = await system_scope(list(org_ids), reason="the plan behind a cost budget") \
        .scoped(BillingAccount)
    return _highest(effective_plan(a.subscription_plan, a.status) for a in accounts)


async def _persons_plan(user_id: uuid.UUID) -> Plan:
    """The best plan among the organizations a person belongs to, in one statement."""
    rows = await Membership.of_user(user_id).values_list(
        "organization__billing_account__subscription_plan",
        "organization__billing_account__status")
    return _highest(effective_plan(plan, status) for plan, status in rows if plan is not None)


def _highest(plans: Iterable[Plan]) -> Plan:
    """The best of some plans (catalog order), FREE for none."""
    order = list(BUDGETS_BY_PLAN)
    return max(plans, key=order.index, default=Plan.FREE)
