"""Deleting an account or an organization, after a grace period that can call it off.

The request records the deletion (`scheduled_work`, due after ACCOUNT_DELETION_GRACE_DAYS) in
the same transaction as what ends at once, and queues a job for the due time; the job
(`jobs/deletions.py`) does the deleting, and the sweep queues it again if that job is lost.

- `deleteAccount(input: {password})`: every session ends at once and so does every API token the
  person created, every partner-app grant they approved and every pending invitation they sent
  (these act with their creator's standing, which is ending); signing in again during the grace
  period is allowed, to call it off. The last OWNER of an organization with other members must hand
  ownership over or delete the organization first (CONFLICT); organizations where they are the only
  member are deleted with the account, and their renewing Stripe subscriptions stop renewing at once
  (`resolvers/renewals.py`), renewing again if the deletion is canceled or someone joins.
- `deleteOrganization(input: {organizationId, confirmSlug})`: the organization's API tokens (and, at
  merge, OAuth grants) are revoked at once and stay revoked if the deletion is canceled. A renewing
  Stripe subscription stops renewing at once (the period already paid for goes on, so the grace
  period does not cut service, and no new period is charged), renews again if the deletion is
  canceled, and is canceled when the deletion runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import cast

import structlog

from auth.passwords import verify_password
from auth.permissions import Permission
from core.errors import BadUserInput, Conflict, NotFound
from engine.context import Context
from models.billing import BillingAccount
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.oauth import OAuthCode, OAuthGrant
from models.orgs import Membership, Organization, Role
from models.tenancy import system_scope
from models.tokens import ApiToken
from oauth.server import revoke_grant
from realtime.outbox import in_transaction
from resolvers.accounts import end_sessions
from resolvers.activity import record
from resolvers.members import revoke_invitations_beyond_role
from resolvers.oauth import revoke_grants_beyond_role
from resolvers.renewals import held_by, hold, release, stop_renewals
from resolvers.ticket_work import work_canceled
from resolvers.tokens import revoke_beyond_role

log = structlog.get_logger("relleks.deletions")


Eraser = Callable[[uuid.UUID], Awaitable[None]]


async def _revoke_oauth_grants(org_id: uuid.UUID) -> None:
    """Partner apps stop acting in an org whose deletion is requested, as its API tokens do: its
    codes not yet exchanged are spent (first, see `resolvers.oauth.revoke_grants_beyond_role`),
    and its grants end with their tokens. Canceling the deletion brings none of them back."""
    now = datetime.now(UTC)
    scope = system_scope(org_id, reason="an organization's deletion was requested")
    await scope.scoped(OAuthCode).filter(used_at__isnull=True).update(used_at=now)
    for grant_id in cast("list[uuid.UUID]", await scope.scoped(OAuthGrant).filter(
            revoked_at__isnull=True).values_list("id", flat=True)):
        await revoke_grant(grant_id, now)


ORG_REVOKERS: list[Eraser] = [_revoke_oauth_grants]
"""What ends at once when an organization's deletion is requested, beside its API tokens
(revoked by `resolvers/deletions.py`). Each gets the org id and runs in the request's
transaction."""


def _due(ctx: Context, now: datetime) -> datetime:
    return now + timedelta(days=ctx.services.settings.account_deletion_grace_days)


async def pending_account_deletion(ctx: Context) -> ScheduledWork | None:
    return await ScheduledWork.filter(user_id=ctx.user.id, kind=WorkKind.ACCOUNT_DELETION,
                                      status__in=[WorkStatus.PENDING, WorkStatus.RUNNING,
                                                  WorkStatus.FAILED]) \
        .order_by("-created_at").first()


async def _check_not_last_owner(ctx: Context) -> None:
    owned = await Membership.of_user(ctx.user.id).filter(role=Role.OWNER) \
        .prefetch_related("organization")
    for membership in owned:
        org_id = membership.organization_id
        others = ctx.access.scoped(Membership, org_id).exclude(user_id=ctx.user.id)
        if await others.exists() and not await others.filter(role=Role.OWNER).exists():
            org: Organization = membership.organization
            raise Conflict(f"You are the only OWNER of {org.name} ({org.slug}): transfer its "
                           "ownership or delete it first.", organization=org.slug,
                           reason="LAST_OWNER")


async def _orgs_deleted_with(ctx: Context) -> list[uuid.UUID]:
    """The organizations where the person is the only member: deleted with the account."""
    owned = await Membership.of_user(ctx.user.id).filter(role=Role.OWNER) \
        .values_list("organization_id", flat=True)
    return [org_id for org_id in cast("list[uuid.UUID]", owned)
            if not await ctx.access.scoped(Membership, org_id)
            .exclude(user_id=ctx.user.id).exists()]


async def delete_account(ctx: Context, password: str) -> ScheduledWork:
    user = ctx.user
    await ctx.services.limiter.hit_password_check(email=user.email, ip=ctx.client_ip)
    if not verify_password(user.password_hash, password):
        raise BadUserInput.field("password", "is not your password")
    org_ids = await ctx.access.orgs_with(Permission.ORG_READ)
    await _check_not_last_owner(ctx)
    now = datetime.now(UTC)
    existing = await pending_account_deletion(ctx)
    # Stripe first (outside the transaction): the organizations going with the account stop
    # renewing now; if Stripe refuses, nothing is scheduled.
    stopped = [] if existing is not None and existing.status.open \
        else await stop_renewals(ctx, await _orgs_deleted_with(ctx))
    async with in_transaction():
        if existing is not None and existing.status.open:
            work = existing
        else:
            due = _due(ctx, now)
            work = await ScheduledWork.create(kind=WorkKind.ACCOUNT_DELETION, user_id=user.id,
                                              due_at=due, dispatched_at=due,
                                              renewal_stopped=bool(stopped))
            await hold(stopped, work.id)
            for account in stopped:
                await record(ctx, account.organization_id, "organization.renewal_stopped",
                             target_type="organization", target_id=account.organization_id,
                             summary={"reason": "account_deletion"})
        await end_sessions(ctx.services.broker, user.id)
        for org_id in org_ids:  # they act with the standing that is ending
            await revoke_beyond_role(ctx, org_id, user.id, None, "account_deletion")
            await revoke_grants_beyond_role(ctx, org_id, user.id, None, "account_deletion")
            await revoke_invitations_beyond_role(ctx, org_id, user.id, None, "account_deletion")
    if work is not existing:
        await ctx.services.jobs.defer(work.id, schedule_at=work.due_at)
    return work


async def cancel_account_deletion(ctx: Context) -> ScheduledWork:
    """Call the deletion off, and resume the renewals it held (Stripe first: if Stripe refuses,
    the deletion stays scheduled and the person can try again)."""
    work = await pending_account_deletion(ctx)
    if work is None or work.status is not WorkStatus.PENDING:
        if work is not None and work.status is WorkStatus.RUNNING:
            raise Conflict("The deletion is under way and can no longer be canceled.")
        raise NotFound("scheduled account deletion")
    if work.renewal_stopped:
        owned = await Membership.of_user(ctx.user.id).values_list("organization_id", flat=True)
        for org_id in await held_by(work.id, cast("list[uuid.UUID]", owned)):
            if await release(ctx, org_id, work.id):
                async with in_transaction():
                    await record(ctx, org_id, "organization.renewal_resumed",
                                 target_type="organization", target_id=org_id,
                                 summary={"reason": "account_deletion_canceled"})
    canceled = await ScheduledWork.filter(id=work.id, status=WorkStatus.PENDING).update(
        status=WorkStatus.CANCELED, canceled_at=datetime.now(UTC))
    if not canceled:
        raise Conflict("The deletion is under way and can no longer be canceled.")
    await work_canceled(work.id)  # a data-rights ticket that ran it opens again
    return await ScheduledWork.get(id=work.id)


async def pending_org_deletion(org_id: uuid.UUID) -> ScheduledWork | None:
    return await ScheduledWork.filter(organization_id=org_id, kind=WorkKind.ORG_DELETION,
                                      status__in=[WorkStatus.PENDING, WorkStatus.RUNNING,
                                                  WorkStatus.FAILED]) \
        .order_by("-created_at").first()


async def _renewing_subscription(ctx: Context, org_id: uuid.UUID) -> BillingAccount | None:
    """The org's billing account if its Stripe subscription is live and set to renew."""
    account = await ctx.access.scoped(BillingAccount, org_id).first()
    if not ctx.services.stripe.configured or account is None \
            or not account.subscription_live or account.cancel_at_period_end:
        return None
    return account


async def _set_renewal(ctx: Context, account: BillingAccount, *, renew: bool) -> None:
    assert account.stripe_subscription_id
    await ctx.services.stripe.set_renewal(
        org_id=account.organization_id, subscription_id=account.stripe_subscription_id,
        renew=renew, request_id=ctx.request_id)


async def delete_organization(ctx: Context, org_id: uuid.UUID,
                              confirm_slug: str) -> ScheduledWork:
    """Schedule the deletion. A renewing subscription stops renewing first (Stripe before our
    database, so a refusal schedules nothing): the paid period goes on through the grace
    period, and no new one is charged for an organization on its way out."""
    org = await Organization.get(id=org_id)
    if confirm_slug.strip().lower() != org.slug:
        raise BadUserInput.field("confirmSlug", "must be the organization's slug")
    existing = await pending_org_deletion(org_id)
    if existing is not None and existing.status.open:
        return existing
    account = await _renewing_subscription(ctx, org_id)
    if account is not None:
        await _set_renewal(ctx, account, renew=False)
    now = datetime.now(UTC)
    due = _due(ctx, now)
    try:
        async with in_transaction():
            work = await ScheduledWork.create(
                kind=WorkKind.ORG_DELETION, organization_id=org_id, user_id=ctx.user.id,
                due_at=due, dispatched_at=due, renewal_stopped=account is not None)
            if account is not None:
                account.cancel_at_period_end = True
                await account.save(update_fields=["cancel_at_period_end", "updated_at"])
            revoked = await ctx.access.scoped(ApiToken, org_id).filter(
                revoked_at__isnull=True).update(revoked_at=now)
            for revoke in ORG_REVOKERS:
                await revoke(org_id)
            await record(ctx, org_id, "organization.deletion_scheduled",
                         target_type="organization", target_id=org_id,
                         summary={"dueAt": due.isoformat(), "apiTokensRevoked": revoked,
                                  "renewalStopped": account is not None})
    except Exception:
        if account is not None:  # nothing was scheduled: let it renew as before
            try:
                await _set_renewal(ctx, account, renew=True)
            except Exception:
                log.warning("billing.renewal_not_restored", org_id=str(org_id),
                            request_id=ctx.request_id)
        raise
    await ctx.services.jobs.defer(work.id, schedule_at=due)
    return work


async def cancel_organization_deletion(ctx: Context, org_id: uuid.UUID) -> ScheduledWork:
    """Call the deletion off, and resume the renewal it stopped (Stripe first: if Stripe
    refuses, the deletion stays scheduled and the caller can try again)."""
    work = await pending_org_deletion(org_id)
    if work is None or work.status is not WorkStatus.PENDING:
        if work is not None and work.status is WorkStatus.RUNNING:
            raise Conflict("The deletion is under way and can no longer be canceled.")
        raise NotFound("scheduled organization deletion")
    account = await ctx.access.scoped(BillingAccount, org_id).first()
    resume = work.renewal_stopped and ctx.services.stripe.configured \
        and account is not None and account.subscription_live
    if resume:
        assert account is not None
        await _set_renewal(ctx, account, renew=True)
    async with in_transaction():
        if resume:
            assert account is not None
            account.cancel_at_period_end = False
            await account.save(update_fields=["cancel_at_period_end", "updated_at"])
        canceled = await ScheduledWork.filter(id=work.id, status=WorkStatus.PENDING).update(
            status=WorkStatus.CANCELED, canceled_at=datetime.now(UTC))
        if not canceled:
            raise Conflict("The deletion is under way and can no longer be canceled.")
        await record(ctx, org_id, "organization.deletion_canceled", target_type="organization",
                     target_id=org_id)
    return await ScheduledWork.get(id=work.id)
