"""Members and invitations: who belongs to an org, with which role, and how people join.

Rank rules (beyond the permissions the fields declare): a member acts only on members ranked
below them, OWNERs excepted, who act on anyone; nobody grants a role above their own (nor
invites to it, or resends or revokes such an invitation); an org always keeps at least one
OWNER. Pending invitations end with their sender's standing, as API tokens do.

Every decision on roles (a role change, a removal, leaving, a hand-over, an invitation) reads
the roles it decides on inside its transaction, after locking the organization's row
(`_actor`), so that concurrent requests cannot each pass a check the other breaks.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import structlog
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from auth.permissions import ROLE_GRANTS, Permission
from auth.tokens import hash_secret, new_secret
from billing.limits import ensure_within_limit
from core.errors import BadUserInput, Conflict, Forbidden, NotFound
from core.validation import validate
from engine.context import Context
from mail import messages
from models.accounts import User
from models.orgs import Invitation, Membership, Organization, Role
from realtime.outbox import in_transaction
from resolvers.activity import record
from resolvers.oauth import revoke_grants_beyond_role
from resolvers.renewals import release
from resolvers.tokens import revoke_beyond_role
from services.stripe_errors import PaymentProviderError

log = structlog.get_logger("relleks.members")
INVITATION_TTL = timedelta(days=7)
INVITATION_PREFIX = "rlk_inv_"


def members_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[Membership]:
    return ctx.access.scoped(Membership, org_id).order_by("created_at", "id")


def pending_invitations_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[Invitation]:
    return ctx.access.scoped(Invitation, org_id).filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=datetime.now(UTC)
    ).order_by("-created_at", "-id")


async def _actor(ctx: Context, org_id: uuid.UUID, permission: Permission) -> Membership:
    """The caller's membership as it is now, the org locked: call it first inside the
    transaction of a decision on roles, so that the decision and a concurrent change of the
    caller's (or anyone's) role in the org happen one after the other, never interleaved
    (`auth.access.Access.require_now`)."""
    return await ctx.access.require_now(org_id, permission)


def _may_act_on(actor: Membership, target_role: Role) -> bool:
    return actor.role is Role.OWNER or target_role.rank < actor.role.rank


def _check_grant(actor: Membership, role: Role, doing: str = "grant") -> None:
    """Nobody grants a role above their own, nor invites to it, resends or revokes such an
    invitation (FORBIDDEN, reason ROLE_ABOVE_OWN, for all of them)."""
    if role.rank > actor.role.rank:
        what = f"the {role.name} role" if doing == "grant" else \
            f"an invitation for the {role.name} role"
        raise Forbidden(f"You cannot {doing} {what}: it is above your own.",
                        reason="ROLE_ABOVE_OWN")


async def _owner_count(ctx: Context, org_id: uuid.UUID) -> int:
    """The org's OWNERs, their rows locked until the transaction ends, so two OWNERs stepping
    down at once cannot both pass. Tortoise drops FOR UPDATE from `count()` and `values_list()`,
    hence the rows (ids only) are fetched and counted here."""
    owners = await ctx.access.scoped(Membership, org_id).filter(role=Role.OWNER) \
        .select_for_update().only("id")
    return len(owners)


async def _membership(ctx: Context, membership_id: uuid.UUID,
                      org_id: uuid.UUID | None = None) -> Membership:
    """A membership of `org_id` (by default, of the org owning it, which the field's permission
    checked). One of any other org is NOT_FOUND, like one that does not exist."""
    return await ctx.row(Membership, membership_id, what="membership", field="membershipId",
                         org_id=org_id)


async def _send_invitation(ctx: Context, invitation: Invitation, token: str) -> None:
    org = await ctx.loaders.organization.load(invitation.organization_id)
    try:
        await ctx.services.mailer.send(messages.invitation_mail(
            to=invitation.email, organization=org.name if org else "",
            inviter=ctx.viewer.user.name if ctx.viewer.user else None,
            role=invitation.role.name, ttl=INVITATION_TTL,
            url=messages.link(ctx.services.settings.public_url, "invitations/accept", token)))
    except Exception:  # the invitation exists and can be resent; the failure is logged
        log.exception("invitation.mail_failed", invitation_id=str(invitation.id))


async def _count_mail(ctx: Context, org_id: uuid.UUID, email: str) -> None:
    """Spend one invitation mail of the org's, the sender's and the address's budgets
    (`LoginLimiter.hit_invitation`): RATE_LIMITED, before anything is written or mailed, when
    one is spent. Called last in the transaction, once every other check passed, so that a
    refusal for another reason spends nothing."""
    await ctx.services.limiter.hit_invitation(org_id=org_id, inviter_id=ctx.user.id, email=email)


async def invite_member(ctx: Context, org_id: uuid.UUID, *, email: str, role: Role) -> Invitation:
    token = new_secret(INVITATION_PREFIX)
    async with in_transaction():
        # Under the org's lock: the sender's role as it is now, and one pending invitation per
        # address however many requests ask at once (the others are the CONFLICT below).
        actor = await _actor(ctx, org_id, Permission.MEMBERS_INVITE)
        _check_grant(actor, role)
        with validate() as check:
            email = check.email("email", email)
        if await ctx.access.scoped(Membership, org_id).filter(user__email=email).exists():
            raise Conflict("This person is already a member.", field="email")
        if await pending_invitations_query(ctx, org_id).filter(email=email).exists():
            raise Conflict("This email already has a pending invitation: resend it instead.",
                           field="email")
        await ensure_within_limit(ctx, org_id, "members", adding=1)
        await _count_mail(ctx, org_id, email)
        invitation = await Invitation.create(
            organization_id=org_id, email=email, role=role, token_hash=hash_secret(token),
            invited_by_id=ctx.user.id, expires_at=datetime.now(UTC) + INVITATION_TTL,
        )
        await record(ctx, org_id, "invitation.created", target_type="invitation",
                     target_id=invitation.id, summary={"role": role.value}, email=email)
    await _send_invitation(ctx, invitation, token)
    return invitation


async def _pending(ctx: Context, invitation_id: uuid.UUID) -> Invitation:
    invitation = await ctx.row(Invitation, invitation_id, what="pending invitation")
    if invitation.accepted_at or invitation.revoked_at or \
            invitation.expires_at <= datetime.now(UTC):
        raise NotFound("pending invitation", field="id")
    return invitation


async def resend_invitation(ctx: Context, invitation_id: uuid.UUID) -> Invitation:
    org_id = (await _pending(ctx, invitation_id)).organization_id
    token = new_secret(INVITATION_PREFIX)
    async with in_transaction():
        actor = await _actor(ctx, org_id, Permission.MEMBERS_INVITE)
        invitation = await _pending(ctx, invitation_id)  # still pending, under the lock
        _check_grant(actor, invitation.role, "resend")
        await _count_mail(ctx, org_id, invitation.email)
        invitation.token_hash = hash_secret(token)  # the old link stops working
        invitation.expires_at = datetime.now(UTC) + INVITATION_TTL
        await invitation.save(update_fields=["token_hash", "expires_at"])
        await record(ctx, invitation.organization_id, "invitation.resent",
                     target_type="invitation", target_id=invitation.id)
    await _send_invitation(ctx, invitation, token)
    return invitation


async def revoke_invitation(ctx: Context, invitation_id: uuid.UUID) -> Invitation:
    """Cancel a pending invitation: the rank rules of sending it apply (an ADMIN cannot revoke
    an invitation for the OWNER role: FORBIDDEN, as resending it is)."""
    org_id = (await _pending(ctx, invitation_id)).organization_id
    async with in_transaction():
        actor = await _actor(ctx, org_id, Permission.MEMBERS_INVITE)
        invitation = await _pending(ctx, invitation_id)
        _check_grant(actor, invitation.role, "revoke")
        invitation.revoked_at = datetime.now(UTC)
        await invitation.save(update_fields=["revoked_at"])
        await record(ctx, invitation.organization_id, "invitation.revoked",
                     target_type="invitation", target_id=invitation.id, email=invitation.email)
    return invitation


class InvitationProblem(StrEnum):
    """`extensions.reason` of a refused invitation token: clients show a matching message."""

    INVALID = "INVITATION_INVALID"
    REVOKED = "INVITATION_REVOKED"
    USED = "INVITATION_USED"
    EXPIRED = "INVITATION_EXPIRED"

    def error(self) -> BadUserInput:
        """This refusal as the error to raise, e.g. `raise InvitationProblem.USED.error()`."""
        return BadUserInput.token(self.value, _INVITATION_PROBLEMS[self],
                                  message=_INVITATION_PROBLEMS[self])


_INVITATION_PROBLEMS = {
    InvitationProblem.INVALID: "This invitation link is not valid.",
    InvitationProblem.REVOKED: "This invitation was revoked.",
    InvitationProblem.USED: "This invitation was already used.",
    InvitationProblem.EXPIRED: "This invitation has expired: ask for a new one.",
}


async def accept_invitation(ctx: Context, token: str) -> Membership:
    user: User = ctx.user
    invitation = await Invitation.by_token_hash(hash_secret(token.strip()))
    now = datetime.now(UTC)
    if invitation is None:
        raise InvitationProblem.INVALID.error()
    if invitation.revoked_at is not None:
        raise InvitationProblem.REVOKED.error()
    if invitation.accepted_at is not None:
        raise InvitationProblem.USED.error()
    if invitation.expires_at <= now:
        raise InvitationProblem.EXPIRED.error()
    if not user.email_verified:
        raise Forbidden("Verify your email address first, then accept the invitation.",
                        reason="EMAIL_NOT_VERIFIED")
    if user.email != invitation.email:
        raise Forbidden("This invitation was sent to another email address.",
                        reason="EMAIL_MISMATCH")
    org_id = invitation.organization_id
    try:
        async with in_transaction():
            claimed = await Invitation.claim(invitation.id, now)
            if not claimed:
                raise InvitationProblem.USED.error()
            await ensure_within_limit(ctx, org_id, "members", adding=1)
            membership = await Membership.create(organization_id=org_id, user_id=user.id,
                                                 role=invitation.role)
            await record(ctx, org_id, "member.joined", target_type="membership",
                         target_id=membership.id,
                         summary={"role": invitation.role.value, "invitation": str(invitation.id)},
                         people=(user.id,))
    except IntegrityError as exc:
        raise Conflict("You are already a member of this organization.") from exc
    ctx.access.forget(org_id)
    await _resume_held_renewal(ctx, org_id)
    return membership


async def _resume_held_renewal(ctx: Context, org_id: uuid.UUID) -> None:
    """Someone joined an organization that its only member's account deletion would have
    taken along: it no longer goes with the account, so its renewal resumes. A Stripe failure
    here does not undo the joining: the deletion job resumes it when it runs."""
    try:
        if await release(ctx, org_id):
            async with in_transaction():
                await record(ctx, org_id, "organization.renewal_resumed",
                             target_type="organization", target_id=org_id,
                             summary={"reason": "member_joined"})
    except PaymentProviderError:
        log.warning("billing.renewal_not_resumed", org_id=str(org_id),
                    request_id=ctx.request_id)


async def update_member_role(ctx: Context, membership_id: uuid.UUID, role: Role) -> Membership:
    org_id = (await _membership(ctx, membership_id)).organization_id
    async with in_transaction():
        # Both roles as they are now, under the org's lock (see `_actor`).
        actor = await _actor(ctx, org_id, Permission.MEMBERS_WRITE)
        target = await _membership(ctx, membership_id, org_id)
        if not _may_act_on(actor, target.role):
            raise Forbidden(f"You cannot change the role of a {target.role.name}.",
                            reason="RANK")
        _check_grant(actor, role)
        if role is target.role:
            return target
        if target.role is Role.OWNER and await _owner_count(ctx, org_id) <= 1:
            raise Conflict("An organization needs at least one OWNER: make someone else OWNER "
                           "first (transferOwnership).", reason="LAST_OWNER")
        previous = target.role
        target.role = role
        await target.save(update_fields=["role"])
        await record(ctx, org_id, "member.role_changed", target_type="membership",
                     target_id=target.id, summary={"role": [previous.value, role.value]},
                     people=(target.user_id,))
        await _end_credentials_beyond(ctx, org_id, target.user_id, role, "creator_demoted")
    ctx.access.forget(org_id)
    return target


async def _end_credentials_beyond(ctx: Context, org_id: uuid.UUID, user_id: uuid.UUID,
                                  role: Role | None, reason: str) -> None:
    """API tokens, app grants and pending invitations act with their creator's standing: those
    that now do more than `role` allows (all of them, with no role) end with the change that
    lowered it."""
    await revoke_beyond_role(ctx, org_id, user_id, role, reason)
    await revoke_grants_beyond_role(ctx, org_id, user_id, role, reason)
    await revoke_invitations_beyond_role(ctx, org_id, user_id, role, reason)


async def revoke_invitations_beyond_role(ctx: Context, org_id: uuid.UUID, sender_id: uuid.UUID,
                                         role: Role | None, reason: str) -> int:
    """End the pending invitations `sender_id` sent in the org that their `role` could not send
    now: those for a role above it, and every one when it may not invite at all (or they are no
    longer a member). Each is logged with `reason`; how many ended. Runs in the caller's
    transaction, with the change that lowered the sender's standing, as
    `resolvers.tokens.revoke_beyond_role` does for tokens."""
    may_invite = role is not None and Permission.MEMBERS_INVITE in ROLE_GRANTS[role]
    invitations = await pending_invitations_query(ctx, org_id).filter(invited_by_id=sender_id)
    now = datetime.now(UTC)
    ended = 0
    for invitation in invitations:
        if may_invite and role is not None and invitation.role.rank <= role.rank:
            continue
        # Only if still pending: an acceptance at this very moment wins (`Invitation.claim`).
        if not await ctx.access.scoped(Invitation, org_id).filter(
                id=invitation.id, accepted_at__isnull=True, revoked_at__isnull=True) \
                .update(revoked_at=now):
            continue
        ended += 1
        await record(ctx, org_id, "invitation.revoked", target_type="invitation",
                     target_id=invitation.id, email=invitation.email,
                     summary={"role": invitation.role.value, "reason": reason})
    return ended


async def _remove(ctx: Context, target: Membership, action: str) -> None:
    """Runs in the caller's transaction, after `_actor` took the org's lock."""
    org_id = target.organization_id
    if target.role is Role.OWNER and await _owner_count(ctx, org_id) <= 1:
        raise Conflict("An organization needs at least one OWNER: transfer ownership first.",
                       reason="LAST_OWNER")
    await ctx.access.scoped(Membership, org_id).filter(id=target.id).delete()
    await record(ctx, org_id, action, target_type="membership", target_id=target.id,
                 summary={"user": str(target.user_id), "role": target.role.value},
                 people=(target.user_id,))
    await _end_credentials_beyond(ctx, org_id, target.user_id, None,
                                  "creator_left" if action == "member.left"
                                  else "creator_removed")


async def remove_member(ctx: Context, membership_id: uuid.UUID) -> uuid.UUID:
    target = await _membership(ctx, membership_id)
    if target.user_id == ctx.user.id:
        raise BadUserInput.field("membershipId", "that is you: use leaveOrganization")
    org_id = target.organization_id
    async with in_transaction():
        actor = await _actor(ctx, org_id, Permission.MEMBERS_WRITE)
        target = await _membership(ctx, membership_id, org_id)
        if not _may_act_on(actor, target.role):
            raise Forbidden(f"You cannot remove a {target.role.name}.", reason="RANK")
        await _remove(ctx, target, "member.removed")
    ctx.access.forget(org_id)
    return target.id


async def leave_organization(ctx: Context, org_id: uuid.UUID) -> uuid.UUID:
    async with in_transaction():
        membership = await _actor(ctx, org_id, Permission.ORG_READ)
        await _remove(ctx, membership, "member.left")
    ctx.access.forget(org_id)
    return org_id


async def transfer_ownership(ctx: Context, org_id: uuid.UUID,
                             membership_id: uuid.UUID) -> Organization:
    async with in_transaction():
        actor = await _actor(ctx, org_id, Permission.OWNERSHIP_TRANSFER)
        target = await _membership(ctx, membership_id, org_id)
        if target.id == actor.id:
            raise BadUserInput.field("membershipId", "you are already an OWNER")
        await ctx.access.scoped(Membership, org_id).filter(id=target.id).update(role=Role.OWNER)
        await ctx.access.scoped(Membership, org_id).filter(id=actor.id).update(role=Role.ADMIN)
        await record(ctx, org_id, "organization.ownership_transferred",
                     target_type="membership", target_id=target.id,
                     summary={"from": str(actor.user_id), "to": str(target.user_id)},
                     people=(actor.user_id, target.user_id))
        await _end_credentials_beyond(ctx, org_id, actor.user_id, Role.ADMIN, "creator_demoted")
    ctx.access.forget(org_id)
    org = await ctx.loaders.organization.load(org_id)
    assert org is not None  # the actor's membership in it was just checked
    return org
