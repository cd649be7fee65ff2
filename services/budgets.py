"""What a query costs its caller: budgets, the caller spending one, and the report after it.

The engine prices each query (`engine/cost.py`) and spends from the app's `QueryBudgets`
(`services.cost_budgets`); billing decides which budget each caller has
(`billing/budgets.py`), so the counters know nothing of plans.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Budget:
    points: int
    window: int
    """Seconds."""


@dataclass
class CostReport:
    """One request's cost and the caller's budget after it."""

    requested: int
    limit: int
    remaining: int
    reset: float
    """When the window ends, as a Unix time."""

    @property
    def reset_at(self) -> datetime:
        return datetime.fromtimestamp(math.ceil(self.reset), UTC)

    def reset_in(self) -> int:
        return max(0, math.ceil(self.reset - time.time()))

    def as_extension(self) -> dict[str, Any]:
        return {"requested": self.requested, "remaining": self.remaining,
                "resetAt": self.reset_at.isoformat(), "limit": self.limit}

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset_in())}


@dataclass(frozen=True)
class Caller:
    key: str
    budget: Budget


class QueryBudgets(Protocol):
    """The budgets of every caller of one app."""

    async def caller(self, context: Any) -> Caller:
        """Who spends for this request's context, with their budget."""

    async def spend(self, caller: Caller, cost: int) -> tuple[bool, CostReport]:
        """Take `cost` from the caller's budget; (False, report) when it does not fit, and
        then nothing is taken."""

    async def peek(self, caller: Caller) -> CostReport:
        """The caller's budget now, spending nothing."""

    async def reset(self) -> None:
        """Forget every counter (tests)."""
