"""Plan limits, enforced where things are created, by one function.

    async with in_transaction():
        await ensure_within_limit(ctx, org_id, "leads", adding=len(rows))
        ...write the rows...

Going over gives PLAN_LIMIT (with `limit`, `plan`, `resource` and `used` in `extensions`) before
anything is written. Only adding is checked: an organization that is over a limit after a
downgrade keeps reading, editing and deleting what it has, and adds again once it is back under
the limit or on a bigger plan.

Called inside the writing transaction, the check first locks the organization's row (FOR NO KEY
UPDATE on PostgreSQL, which still lets other rows reference it), so two requests adding at once
cannot both pass on the same headroom.

The counts read org-owned tables through a system scope (`models.tenancy.system_scope`, reason
`LIMIT_COUNT`) rather than through `ctx.access`: they reveal nothing to the caller, and accepting
an invitation runs before the caller is a member.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

from billing.plans import PLANS, effective_plan
from core.errors import PlanLimit
from engine.context import Context
from models.ai import AiGeneration
from models.billing import BillingAccount, Plan
from models.forms import FormSubmission, LeadForm, SubmissionStatus
from models.leads import Lead
from models.orgs import Invitation, Membership, Organization
from models.tenancy import system_scope
from models.webhooks import WebhookEndpoint

LIMIT_COUNT = "a plan limit counts what the organization has"


async def _members(org_id: uuid.UUID) -> int:
    """Members plus pending invitations: an invitation holds a seat until it is used, revoked or
    expires, so a sent invitation can always be accepted."""
    scope = system_scope(org_id, reason=LIMIT_COUNT)
    members = await scope.scoped(Membership).count()
    pending = await scope.scoped(Invitation).filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=datetime.now(UTC)
    ).count()
    return members + pending


async def _leads(org_id: uuid.UUID) -> int:
    return await system_scope(org_id, reason=LIMIT_COUNT).scoped(Lead).count()


async def _lead_forms(org_id: uuid.UUID) -> int:
    return await system_scope(org_id, reason=LIMIT_COUNT).scoped(LeadForm).count()


async def _webhook_endpoints(org_id: uuid.UUID) -> int:
    return await system_scope(org_id, reason=LIMIT_COUNT).scoped(WebhookEndpoint).count()


def month_start(now: datetime | None = None) -> datetime:
    """The start (UTC) of the calendar month of `now`."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def _form_submissions(org_id: uuid.UUID) -> int:
    """Submissions this calendar month (UTC) that were taken or wait for their confirmation:
    spam, held and discarded ones do not count, so a bot cannot spend a plan's allowance."""
    return await system_scope(org_id, reason=LIMIT_COUNT).scoped(FormSubmission).filter(
        created_at__gte=month_start(),
        status__in=[SubmissionStatus.ACCEPTED, SubmissionStatus.PENDING]).count()


async def _ai_credits(org_id: uuid.UUID) -> int:
    """AI credits charged this calendar month (UTC): only calls that succeeded are charged
    (`resolvers/ai.py`), so a failed one costs nothing."""
    rows = await system_scope(org_id, reason=LIMIT_COUNT).scoped(AiGeneration).filter(
        created_at__gte=month_start(), credits_charged__gt=0).values_list(
        "credits_charged", flat=True)
    return sum(int(cast(int, credits)) for credits in rows)


# How much of each limited resource an organization uses. Later issues register theirs here
# (partner tokens, AI credits) and call `ensure_within_limit` with its name.
USAGE: dict[str, Callable[[uuid.UUID], Awaitable[int]]] = {
    "members": _members,
    "leads": _leads,
    "lead_forms": _lead_forms,
    "form_submissions_per_month": _form_submissions,
    "webhook_endpoints": _webhook_endpoints,
    "ai_credits_per_month": _ai_credits,
}
NOUNS = {"members": "members (pending invitations included)", "leads": "leads",
         "lead_forms": "lead forms",
         "form_submissions_per_month": "form submissions this month",
         "webhook_endpoints": "webhook endpoints",
         "ai_credits_per_month": "AI credits this month"}


async def over_limit(org_id: uuid.UUID, resource: str, *,
                     adding: int = 1) -> tuple[Plan, int, int] | None:
    """None when the plan has room for `adding` more of `resource`; else the plan, its limit
    and what is used. Inside a transaction it locks the organization's row first (see above),
    so a caller that does not raise (a form submission held for review) is as safe."""
    if adding <= 0:
        return None
    await Organization.filter(id=org_id).select_for_update(no_key=True).only("id")
    plan = await current_plan(org_id)
    limit = PLANS[plan].limits.of(resource)
    if limit is None:
        return None
    used = await USAGE[resource](org_id)
    if used + adding <= limit:
        return None
    return plan, limit, used


async def current_plan(org_id: uuid.UUID) -> Plan:
    """The plan whose limits apply now (FREE for an org that never subscribed)."""
    account = await system_scope(org_id, reason="the plan whose limits apply") \
        .scoped(BillingAccount).first()
    if account is None:
        return Plan.FREE
    return effective_plan(account.subscription_plan, account.status)


async def ensure_within_limit(ctx: Context | None, org_id: uuid.UUID, resource: str, *,
                              adding: int = 1) -> None:
    """PLAN_LIMIT unless the organization's plan has room for `adding` more of `resource`.
    `ctx` is None for work that has no request (a public form submission)."""
    exceeded = await over_limit(org_id, resource, adding=adding)
    if exceeded is None:
        return
    plan, limit, used = exceeded
    noun = NOUNS.get(resource, resource)
    adds = "one more" if adding == 1 else f"{adding:,} more"
    raise PlanLimit(
        f"The {PLANS[plan].name} plan allows {limit:,} {noun}; this organization has {used:,}, "
        f"so it cannot add {adds}. Upgrade the plan, or remove some first.",
        limit=limit, plan=plan.name, resource=resource, used=used)
