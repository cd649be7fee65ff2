"""Carrying out account and organization deletions once their grace period is over.

An account deletion deletes the person's own data (account, sessions, memberships, mailed
tokens, invitations addressed to them, their avatar, their export archives, their support
tickets with their messages and attached files, after destroying the person's own key that
encrypted them), ends every
credential they made that still works (API tokens, partner-app grants and codes, however and
whenever made: they act with a standing that is ending) and keeps, with the
author anonymised, what others still need: notes they wrote and activity they caused keep their
text and time, with `author`/`actor` null (shown as a deleted user) and no IP or User-Agent.
Organizations where they were the only member go with them. Where they were the last OWNER and
someone joined during the grace period, ownership passes to the longest-standing member of the
highest role, and the activity log says so.

An organization deletion cancels its Stripe subscription first (outside any transaction; a
failure is retried) and then deletes the organization, every row it owns going with it, and
then its export archives (files and links), whoever asked for them.

Both are idempotent: an account or organization already gone is done. Both append to the
erasure ledger (`keystore/ledger.py`) before deleting, so a restored backup erases them again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import structlog

from keystore import keys
from keystore.ledger import record_erasure, subject_hash
from models.accounts import EmailToken, RefreshToken, Session, User
from models.activity import ActivityEvent
from models.billing import BillingAccount
from models.idempotency import IdempotencyKey
from models.jobs import ScheduledWork, WorkKind
from models.leads import Lead, Note
from models.oauth import OAuthApp, OAuthCode, OAuthGrant
from models.orgs import Invitation, Membership, Organization, Role
from models.support import (
    SupportAccessGrant,
    SupportAccessRead,
    SupportAttachment,
    SupportMessage,
    SupportTicket,
)
from models.tenancy import EVERY_ORG, SystemScope, system_scope
from models.tokens import ApiToken
from oauth.server import revoke_grant
from realtime.credentials import announce_sessions_ended
from realtime.outbox import in_transaction
from resolvers.activity import write_event
from resolvers.exports import forget_org_exports
from resolvers.privacy_requests import forget_org_privacy_exports

if TYPE_CHECKING:
    from services import Services

log = structlog.get_logger("relleks.jobs")

ACCOUNT = system_scope(EVERY_ORG, reason="an account's deletion: the person's rows in every org")


def _org(org_id: uuid.UUID) -> SystemScope:
    return system_scope(org_id, reason="an account's or organization's deletion")



async def cancel_billing(services: Services, org_id: uuid.UUID, work_id: uuid.UUID) -> None:
    """End the organization's Stripe subscription now, if it has a live one."""
    account = await _org(org_id).scoped(BillingAccount).first()
    if account is None or account.stripe_subscription_id is None \
            or not account.subscription_live:
        return
    await services.stripe.cancel_subscription(
        org_id=org_id, subscription_id=account.stripe_subscription_id,
        request_id=f"job:{work_id}")


async def _forget_idempotency_keys(scope: SystemScope, user_id: uuid.UUID | None = None,
                                   **credentials: Any) -> None:
    """The idempotency keys (their stored responses) of the API tokens and OAuth grants that
    `credentials` selects (`created_by_id=...` or `organization_id=...`), and the person's own."""
    tokens = await scope.scoped(ApiToken).filter(**credentials).values_list("id", flat=True)
    grants = await scope.scoped(OAuthGrant).filter(**credentials).values_list("id", flat=True)
    callers = [f"token:{token}" for token in tokens] + [f"grant:{grant}" for grant in grants]
    if user_id is not None:
        callers.append(f"user:{user_id}")
    if callers:
        await IdempotencyKey.filter(caller__in=callers).delete()


async def _delete_org_rows(org_id: uuid.UUID) -> None:
    """The organization and, through its foreign keys' ON DELETE CASCADE, every row it owns;
    first the idempotency keys of its API tokens and OAuth grants (not its rows)."""
    await _forget_idempotency_keys(_org(org_id), organization_id=org_id)
    await Organization.filter(id=org_id).delete()
    await ScheduledWork.filter(organization_id=org_id, kind=WorkKind.ORG_DELETION,
                               status__in=["pending"]).update(
        status="canceled", canceled_at=datetime.now(UTC))


async def delete_organization(services: Services, work: ScheduledWork) -> dict[str, Any]:
    assert work.organization_id is not None
    if await Organization.exists(id=work.organization_id):
        await cancel_billing(services, work.organization_id, work.id)
        await record_erasure("organization", org_id=work.organization_id,
                             subject_hash=None, at=datetime.now(UTC))
        # Crypto-shredding first (docs/encryption.md): with its keys destroyed, the org's
        # encrypted fields are unreadable in every copy of the data, backups included; then
        # its rows go. A retry that finds the keys destroyed already destroys none.
        destroyed = await keys.destroy(work.organization_id)
        log.info("jobs.org_keys_destroyed", organization_id=str(work.organization_id),
                 keys=destroyed)
        await forget_org_privacy_exports(services, work.organization_id)
        async with in_transaction():
            await _delete_org_rows(work.organization_id)
        log.info("jobs.org_deleted", organization_id=str(work.organization_id))
    # Its export archives go once the rows have (and again if a retry finds the org gone).
    await forget_org_exports(services, work.organization_id)
    return {}


async def _end_invitations_sent_by(services: Services, user_id: uuid.UUID) -> None:
    """The invitations the person sent that are still pending (sent during the grace period:
    the request ended the others) end with their standing, each in its org's activity log."""
    now = datetime.now(UTC)
    pending = await ACCOUNT.scoped(Invitation).filter(
        invited_by_id=user_id, accepted_at__isnull=True, revoked_at__isnull=True,
        expires_at__gt=now)
    for invitation in pending:
        if await ACCOUNT.scoped(Invitation).filter(
                id=invitation.id, accepted_at__isnull=True, revoked_at__isnull=True) \
                .update(revoked_at=now):
            await write_event(
                services.broker, invitation.organization_id, "invitation.revoked",
                target_type="invitation", target_id=invitation.id, email=invitation.email,
                summary={"role": invitation.role.value, "reason": "account_deleted"})


async def _successor(org_id: uuid.UUID, leaving: uuid.UUID) -> Membership | None:
    others = await _org(org_id).scoped(Membership) \
        .exclude(user_id=leaving).order_by("created_at", "id")
    if not others:
        return None
    return max(others, key=lambda m: m.role.rank)  # max keeps the first (oldest) of a rank


async def _end_credentials(services: Services, user_id: uuid.UUID) -> None:
    """End everything the person made that still works, whenever they made it (deleteAccount
    ended what existed then; the grace period, or a request racing it, may have made more): the
    codes they approved, the API tokens they created and the app grants they approved, with
    their tokens. Each org's log says why."""
    now = datetime.now(UTC)
    await ACCOUNT.scoped(OAuthCode).filter(user_id=user_id, used_at__isnull=True) \
        .update(used_at=now)
    for token in await ACCOUNT.scoped(ApiToken).filter(created_by_id=user_id,
                                                    revoked_at__isnull=True):
        await ACCOUNT.scoped(ApiToken).filter(id=token.id).update(revoked_at=now)
        await write_event(services.broker, token.organization_id, "api_token.revoked",
                          target_type="api_token", target_id=token.id,
                          summary={"name": token.name, "prefix": token.prefix,
                                   "reason": "account_deleted"})
    grants = await ACCOUNT.scoped(OAuthGrant).filter(created_by_id=user_id,
                                                  revoked_at__isnull=True)
    names = dict(await OAuthApp.filter(id__in=[g.app_id for g in grants])
                 .values_list("id", "name")) if grants else {}
    for grant in grants:
        await revoke_grant(grant.id, now)
        await write_event(services.broker, grant.organization_id, "oauth_app.revoked",
                          target_type="oauth_grant", target_id=grant.id,
                          summary={"app": names.get(grant.app_id), "reason": "account_deleted"})


async def delete_account(services: Services, work: ScheduledWork) -> dict[str, Any]:
    assert work.user_id is not None
    user = await User.get_or_none(id=work.user_id)
    if user is None:
        return {}
    owned = await Membership.of_user(user.id).filter(role=Role.OWNER)
    alone: list[uuid.UUID] = []
    for membership in owned:
        if not await _org(membership.organization_id).scoped(Membership) \
                .exclude(user_id=user.id).exists():
            alone.append(membership.organization_id)
    for org_id in alone:  # Stripe first, outside the transaction; then the keys shredded
        await cancel_billing(services, org_id, work.id)
        await keys.destroy(org_id)
    # The erasure ledger (keystore/ledger.py) before the rows go: a restore replays it.
    now = datetime.now(UTC)
    for org_id in alone:
        await record_erasure("organization", org_id=org_id, subject_hash=None, at=now)
    await record_erasure("account", org_id=None, at=now,
                         subject_hash=subject_hash(services.settings.ledger_key, user.email))
    old_keys = [key for key in cast("list[str | None]", await ScheduledWork.filter(
        user_id=user.id, archive_key__isnull=False).values_list("archive_key", flat=True)) if key]
    # Their support tickets are erased, not kept (docs/support.md): the person's own key is
    # destroyed first, so every copy of them (backups) is unreadable, then the rows go in the
    # transaction below and the attached files after it.
    await keys.destroy(user.id)
    attached = [str(key) for key in await SupportAttachment.filter(
        requester_id=user.id).values_list("storage_key", flat=True)]
    for org_id in alone:
        await forget_org_privacy_exports(services, org_id)
    async with in_transaction():
        for org_id in alone:
            await _delete_org_rows(org_id)
        for membership in owned:
            if membership.organization_id in alone:
                continue
            if await _org(membership.organization_id).scoped(Membership).filter(
                    role=Role.OWNER).exclude(user_id=user.id).exists():
                continue
            successor = await _successor(membership.organization_id, user.id)
            if successor is not None:
                await ACCOUNT.scoped(Membership).filter(id=successor.id).update(role=Role.OWNER)
                await write_event(
                    services.broker, membership.organization_id,
                    "organization.ownership_transferred",
                    target_type="membership", target_id=successor.id,
                    summary={"reason": "account_deleted", "to": str(successor.user_id)},
                    people=(successor.user_id,))
        # Kept for others, anonymised: the author/actor goes (ON DELETE SET NULL does it too;
        # done here so it does not depend on the database), and so do IP and User-Agent.
        await ACCOUNT.scoped(ActivityEvent).filter(actor_id=user.id).update(
            actor_id=None, ip=None, user_agent=None)
        await ACCOUNT.scoped(Note).filter(author_id=user.id).update(author_id=None)
        await ACCOUNT.scoped(Lead).filter(owner_id=user.id).update(owner_id=None)
        await _forget_idempotency_keys(ACCOUNT, user.id, created_by_id=user.id)
        await _end_credentials(services, user.id)
        await ACCOUNT.scoped(ApiToken).filter(created_by_id=user.id).update(created_by_id=None)
        await ACCOUNT.scoped(OAuthGrant).filter(created_by_id=user.id).update(created_by_id=None)
        await _end_invitations_sent_by(services, user.id)
        await ACCOUNT.scoped(Invitation).filter(invited_by_id=user.id).update(invited_by_id=None)
        if user.email_verified:  # an unproven address is someone else's: theirs stay
            await ACCOUNT.scoped(Invitation).filter(email=user.email).delete()
        sessions = await Session.filter(user_id=user.id).values_list("id", flat=True)
        await RefreshToken.filter(session_id__in=list(sessions)).delete()
        await Session.filter(user_id=user.id).delete()
        if sessions:  # signed in again in the grace period: those sockets close now
            await announce_sessions_ended(services.broker, user.id)
        await EmailToken.filter(user_id=user.id).delete()
        await ACCOUNT.scoped(Membership).filter(user_id=user.id).delete()
        await ScheduledWork.filter(user_id=user.id, archive_key__isnull=False).update(
            archive_key=None, download_token_hash=None)
        await SupportTicket.filter(requester_id=user.id).delete()
        # As staff, or as an org's OWNER: what they wrote or did stays, unnamed.
        await SupportMessage.filter(author_id=user.id).update(author_id=None)
        await ACCOUNT.scoped(SupportAccessGrant).filter(granted_by_id=user.id).update(
            granted_by_id=None)
        await ACCOUNT.scoped(SupportAccessGrant).filter(revoked_by_id=user.id).update(
            revoked_by_id=None)
        await ACCOUNT.scoped(SupportAccessRead).filter(staff_user_id=user.id).update(
            staff_user_id=None)
        await User.filter(id=user.id).delete()
    for org_id in alone:
        await forget_org_exports(services, org_id)
    for key in old_keys + attached:
        await services.storage.delete(key)
    if user.avatar_key:
        await services.storage.delete(user.avatar_key)
    log.info("jobs.account_deleted", user_id=str(user.id))
    return {}
