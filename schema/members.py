"""Member and invitation mutations. The types live in `schema/orgs.py`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from engine.fields import Info, decode_id
from engine.permissions import (
    HasPermission,
    IsAuthenticated,
    org_from_argument,
    org_of,
    requires,
)
from models import orgs as models
from resolvers import members as resolvers
from schema.orgs import Invitation, Membership, Role

if TYPE_CHECKING:
    # The composed `Organization` (schema.composition), as type checkers see it.
    from schema.orgs import OrganizationBase as Organization


@strawberry.input(description="Invite someone by email to join an organization.")
class InviteMemberInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization to join.")
    email: str = strawberry.field(description="Where the invitation goes. Only a user who "
                                              "verified this address can accept it.")
    role: Role = strawberry.field(
        description="The role they get; you cannot grant a role above your own.")


@strawberry.input(description="A member and their new role.")
class UpdateMemberRoleInput:
    membership_id: relay.GlobalID = strawberry.field(description="The membership to change.")
    role: Role = strawberry.field(description="The new role.")


@strawberry.input(description="Make another member an OWNER; you become an ADMIN.")
class TransferOwnershipInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    membership_id: relay.GlobalID = strawberry.field(
        description="The member who becomes an OWNER.")


@strawberry.input(description="The pending invitation to send again.")
class ResendInvitationInput:
    id: relay.GlobalID = strawberry.field(description="The invitation.")


@strawberry.input(description="The pending invitation to cancel.")
class RevokeInvitationInput:
    id: relay.GlobalID = strawberry.field(description="The invitation.")


@strawberry.input(description="The invitation to accept.")
class AcceptInvitationInput:
    token: str = strawberry.field(description="The token of the link the invitation mailed "
                                              "(`{PUBLIC_URL}/invitations/accept?token=...`).")


@strawberry.input(description="The member to remove.")
class RemoveMemberInput:
    membership_id: relay.GlobalID = strawberry.field(description="Their membership.")


@strawberry.input(description="The organization to leave.")
class LeaveOrganizationInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")


@strawberry.type(description="What inviteMember sent.")
class InviteMemberPayload:
    invitation: Invitation = strawberry.field(description="The pending invitation.")


@strawberry.type(description="What resendInvitation sent.")
class ResendInvitationPayload:
    invitation: Invitation = strawberry.field(
        description="The invitation, with its new expiry.")


@strawberry.type(description="What revokeInvitation cancelled.")
class RevokeInvitationPayload:
    invitation: Invitation = strawberry.field(description="The cancelled invitation.")


@strawberry.type(description="What acceptInvitation made.")
class AcceptInvitationPayload:
    membership: Membership = strawberry.field(description="Your new membership.")


@strawberry.type(description="What updateMemberRole changed.")
class UpdateMemberRolePayload:
    membership: Membership = strawberry.field(description="The membership, with its new role.")


@strawberry.type(description="What removeMember removed.")
class RemoveMemberPayload:
    deleted_id: relay.GlobalID = strawberry.field(
        description="The removed membership's id.")


@strawberry.type(description="What leaveOrganization removed.")
class LeaveOrganizationPayload:
    deleted_id: relay.GlobalID = strawberry.field(
        description="The id of your membership, which is gone.")


@strawberry.type(description="What transferOwnership changed.")
class TransferOwnershipPayload:
    organization: Annotated[Organization, strawberry.lazy("schema.composition")] = \
        strawberry.field(description="The organization.")


def _membership_id(value: relay.GlobalID) -> uuid.UUID:
    return decode_id(value, "Membership", field="membershipId")


@strawberry.type
class MemberMutations:
    @strawberry.mutation(
        description="Email an invitation (single use, valid 7 days). Inviting a member or an "
                    "email with a pending invitation is a CONFLICT. Invitation mails (sent and "
                    "resent) are limited per organization, per sender and per recipient "
                    "address across all organizations: RATE_LIMITED with `retryAfter` and a "
                    "`reason` naming the limit (see the README's limits), nothing written.",
        extensions=[requires(HasPermission(Permission.MEMBERS_INVITE,
                                           org=org_from_argument("input.organization_id")))])
    async def invite_member(self, info: Info, input: InviteMemberInput) -> InviteMemberPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        invitation = await resolvers.invite_member(
            info.context, org_id, email=input.email, role=models.Role(input.role))
        return InviteMemberPayload(invitation=cast("Invitation", invitation))

    @strawberry.mutation(
        description="Send a pending invitation again with a new link; the old link stops working. "
                    "An invitation for a role above your own is FORBIDDEN (ROLE_ABOVE_OWN). "
                    "Counts against the limits of inviteMember (RATE_LIMITED: the old link "
                    "keeps working).",
        extensions=[requires(HasPermission(
            Permission.MEMBERS_INVITE, org=org_of(models.Invitation, "Invitation", "input.id")))])
    async def resend_invitation(self, info: Info,
                                input: ResendInvitationInput) -> ResendInvitationPayload:
        invitation = await resolvers.resend_invitation(
            info.context, decode_id(input.id, "Invitation", field="id"))
        return ResendInvitationPayload(invitation=cast("Invitation", invitation))

    @strawberry.mutation(
        description="Cancel a pending invitation. The rank rules of sending it apply: an "
                    "invitation for a role above your own is FORBIDDEN (ROLE_ABOVE_OWN).",
        extensions=[requires(HasPermission(
            Permission.MEMBERS_INVITE, org=org_of(models.Invitation, "Invitation", "input.id")))])
    async def revoke_invitation(self, info: Info,
                                input: RevokeInvitationInput) -> RevokeInvitationPayload:
        invitation = await resolvers.revoke_invitation(
            info.context, decode_id(input.id, "Invitation", field="id"))
        return RevokeInvitationPayload(invitation=cast("Invitation", invitation))

    @strawberry.mutation(
        description="Join the organization an invitation is for. Your verified email must be "
                    "the one invited.",
        extensions=[requires(IsAuthenticated())])
    async def accept_invitation(self, info: Info,
                                input: AcceptInvitationInput) -> AcceptInvitationPayload:
        membership = await resolvers.accept_invitation(info.context, input.token)
        return AcceptInvitationPayload(membership=cast("Membership", membership))

    @strawberry.mutation(
        description="Change a member's role. You act only on members ranked below you (OWNERs "
                    "on anyone) and cannot grant a role above your own.",
        extensions=[requires(HasPermission(
            Permission.MEMBERS_WRITE,
            org=org_of(models.Membership, "Membership", "input.membership_id")))])
    async def update_member_role(self, info: Info,
                                 input: UpdateMemberRoleInput) -> UpdateMemberRolePayload:
        membership = await resolvers.update_member_role(
            info.context, _membership_id(input.membership_id), models.Role(input.role))
        return UpdateMemberRolePayload(membership=cast("Membership", membership))

    @strawberry.mutation(
        description="Remove a member ranked below you. The payload names the removed "
                    "membership.",
        extensions=[requires(HasPermission(
            Permission.MEMBERS_WRITE,
            org=org_of(models.Membership, "Membership", "input.membership_id")))])
    async def remove_member(self, info: Info, input: RemoveMemberInput) -> RemoveMemberPayload:
        removed = await resolvers.remove_member(info.context, _membership_id(input.membership_id))
        return RemoveMemberPayload(deleted_id=relay.GlobalID("Membership", str(removed)))

    @strawberry.mutation(
        description="Leave an organization. Its last OWNER must transfer ownership first. The "
                    "payload names your membership, which is gone.",
        extensions=[requires(HasPermission(Permission.ORG_READ,
                                           org=org_from_argument("input.organization_id")),
                             IsAuthenticated())])  # a person leaves, never an API token
    async def leave_organization(self, info: Info,
                                 input: LeaveOrganizationInput) -> LeaveOrganizationPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        membership = await info.context.access.membership(org_id)  # the guard found it
        assert membership is not None
        await resolvers.leave_organization(info.context, org_id)
        return LeaveOrganizationPayload(
            deleted_id=relay.GlobalID("Membership", str(membership.id)))

    @strawberry.mutation(
        description="Make another member an OWNER and become an ADMIN yourself.",
        extensions=[requires(HasPermission(Permission.OWNERSHIP_TRANSFER,
                                           org=org_from_argument("input.organization_id")))])
    async def transfer_ownership(self, info: Info,
                                 input: TransferOwnershipInput) -> TransferOwnershipPayload:
        org = await resolvers.transfer_ownership(
            info.context, decode_id(input.organization_id, "Organization", field="organizationId"),
            _membership_id(input.membership_id))
        return TransferOwnershipPayload(organization=cast("Organization", org))
