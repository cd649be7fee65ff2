"""Holding a Stripe renewal while an account deletion would take the organization with it.

`deleteAccount` deletes, with the account, the organizations where the person is the only
member. Their renewing subscriptions stop renewing at once (Stripe's `cancel_at_period_end`,
through `services.stripe`): the period already paid for goes on through the grace period, and
no new one is charged for an organization on its way out. The account records which deletion
holds it (`BillingAccount.renewal_held_by`), and the renewal resumes when that stops being true:
the deletion is canceled, or someone else joins the organization.

Stripe is called before our database is written, as everywhere in billing: a refusal to stop
leaves nothing held (and the deletion is not scheduled); a refusal to resume on cancel keeps the
deletion scheduled, so that the person can try again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import structlog

from engine.context import Context
from models.billing import BillingAccount
from models.tenancy import system_scope

log = structlog.get_logger("relleks.billing")

REASON = "an account deletion holds or releases the renewal of an organization it would delete"


async def _account(org_id: uuid.UUID) -> BillingAccount | None:
    return await system_scope(org_id, reason=REASON).scoped(BillingAccount).first()


async def _set(ctx: Context, account: BillingAccount, *, renew: bool) -> None:
    assert account.stripe_subscription_id
    await ctx.services.stripe.set_renewal(
        org_id=account.organization_id, subscription_id=account.stripe_subscription_id,
        renew=renew, request_id=ctx.request_id)


async def stop_renewals(ctx: Context, org_ids: Iterable[uuid.UUID]) -> list[BillingAccount]:
    """Stop the renewal of each org's live, renewing subscription at Stripe; the accounts
    stopped. If Stripe refuses one, those already stopped renew again and the error rises."""
    if not ctx.services.stripe.configured:
        return []
    stopped: list[BillingAccount] = []
    try:
        for org_id in org_ids:
            account = await _account(org_id)
            if account is None or not account.subscription_live \
                    or account.cancel_at_period_end or account.renewal_held_by is not None:
                continue
            await _set(ctx, account, renew=False)
            stopped.append(account)
    except Exception:
        for account in stopped:
            try:
                await _set(ctx, account, renew=True)
            except Exception:
                log.warning("billing.renewal_not_restored", org_id=str(account.organization_id),
                            request_id=ctx.request_id)
        raise
    return stopped


async def hold(accounts: list[BillingAccount], work_id: uuid.UUID) -> None:
    """Record, in the deletion's transaction, that `work_id` holds these renewals."""
    for account in accounts:
        await system_scope(account.organization_id, reason=REASON).scoped(BillingAccount) \
            .filter(id=account.id).update(cancel_at_period_end=True, renewal_held_by=work_id)


async def release(ctx: Context, org_id: uuid.UUID, work_id: uuid.UUID | None = None) -> bool:
    """Resume the renewal an account deletion holds in `org_id` (that deletion's only, when
    `work_id` is given): Stripe first, then our row. Whether one was resumed."""
    account = await _account(org_id)
    if account is None or account.renewal_held_by is None \
            or (work_id is not None and account.renewal_held_by != work_id):
        return False
    if account.subscription_live and ctx.services.stripe.configured:
        await _set(ctx, account, renew=True)
    await system_scope(org_id, reason=REASON).scoped(BillingAccount).filter(
        id=account.id, renewal_held_by=account.renewal_held_by).update(
        cancel_at_period_end=False if account.subscription_live
        else account.cancel_at_period_end, renewal_held_by=None)
    return True


async def held_by(work_id: uuid.UUID, org_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Which of `org_ids` have a renewal held by the account deletion `work_id`."""
    held = []
    for org_id in org_ids:
        account = await _account(org_id)
        if account is not None and account.renewal_held_by == work_id:
            held.append(org_id)
    return held
