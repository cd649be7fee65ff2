"""Member and invitation mutations. The types live in `schema/orgs.py`."""

from __future__ import annotations

import strawberry
from strawberry import relay

from auth.permissions import Permission
from models import orgs as models
from resolvers import members as resolvers
from schema.base import Info
from schema.orgs import Invitation, Membership, Organization, Role
from schema.permissions import (
    HasPermission,
    IsAuthenticated,
    global_uuid,
    org_from_argument,
    org_of,
    requires,
)


@strawberry.input(description="Invite someone by email to join an organization.")
class InviteMemberInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization to join.")
    email: str = strawberry.field(description="Where the invitation goes. Only a user who "
                                              "verified this address can accept it.")
    role: Role = strawberry.field(  # type: ignore[valid-type]
        description="The role they get; you cannot grant a role above your own.")


@strawberry.input(description="A member and their new role.")
class UpdateMemberRoleInput:
    membership_id: relay.GlobalID = strawberry.field(description="The membership to change.")
    role: Role = strawberry.field(description="The new role.")  # type: ignore[valid-type]


@strawberry.input(description="Make another member an OWNER; you become an ADMIN.")
class TransferOwnershipInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    membership_id: relay.GlobalID = strawberry.field(
        description="The member who becomes an OWNER.")


def _membership_id(value: relay.GlobalID) -> object:
    return global_uuid(value, "Membership", "membershipId")


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
    async def invite_member(self, info: Info, input: InviteMemberInput) -> Invitation:
        org_id = global_uuid(input.organization_id, "Organization", "organizationId")
        return await resolvers.invite_member(  # type: ignore[return-value]
            info.context, org_id, email=input.email, role=models.Role(input.role))

    @strawberry.mutation(
        description="Send a pending invitation again with a new link; the old link stops working. "
                    "An invitation for a role above your own is FORBIDDEN (ROLE_ABOVE_OWN). "
                    "Counts against the limits of inviteMember (RATE_LIMITED: the old link "
                    "keeps working).",
        extensions=[requires(HasPermission(Permission.MEMBERS_INVITE,
                                           org=org_of(models.Invitation, "Invitation", "id")))])
    async def resend_invitation(self, info: Info, id: relay.GlobalID) -> Invitation:
        return await resolvers.resend_invitation(  # type: ignore[return-value]
            info.context, global_uuid(id, "Invitation", "id"))

    @strawberry.mutation(
        description="Cancel a pending invitation. The rank rules of sending it apply: an "
                    "invitation for a role above your own is FORBIDDEN (ROLE_ABOVE_OWN).",
        extensions=[requires(HasPermission(Permission.MEMBERS_INVITE,
                                           org=org_of(models.Invitation, "Invitation", "id")))])
    async def revoke_invitation(self, info: Info, id: relay.GlobalID) -> Invitation:
        return await resolvers.revoke_invitation(  # type: ignore[return-value]
            info.context, global_uuid(id, "Invitation", "id"))

    @strawberry.mutation(
        description="Join the organization an invitation is for. Your verified email must be "
                    "the one invited.",
        extensions=[requires(IsAuthenticated())])
    async def accept_invitation(self, info: Info, token: str) -> Membership:
        return await resolvers.accept_invitation(info.context, token)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Change a member's role. You act only on members ranked below you (OWNERs "
                    "on anyone) and cannot grant a role above your own.",
        extensions=[requires(HasPermission(
            Permission.MEMBERS_WRITE,
            org=org_of(models.Membership, "Membership", "input.membership_id")))])
    async def update_member_role(self, info: Info, input: UpdateMemberRoleInput) -> Membership:
        return await resolvers.update_member_role(  # type: ignore[return-value]
            info.context, _membership_id(input.membership_id), models.Role(input.role))

    @strawberry.mutation(
        description="Remove a member ranked below you. Returns the removed membership's id.",
        extensions=[requires(HasPermission(
            Permission.MEMBERS_WRITE,
            org=org_of(models.Membership, "Membership", "membership_id")))])
    async def remove_member(self, info: Info, membership_id: relay.GlobalID) -> relay.GlobalID:
        removed = await resolvers.remove_member(info.context, _membership_id(membership_id))
        return relay.GlobalID("Membership", str(removed))

    @strawberry.mutation(
        description="Leave an organization. Its last OWNER must transfer ownership first.",
        extensions=[requires(HasPermission(Permission.ORG_READ,
                                           org=org_from_argument("organization_id")),
                             IsAuthenticated())])  # a person leaves, never an API token
    async def leave_organization(self, info: Info, organization_id: relay.GlobalID
                                 ) -> relay.GlobalID:
        org_id = global_uuid(organization_id, "Organization", "organizationId")
        await resolvers.leave_organization(info.context, org_id)
        return organization_id

    @strawberry.mutation(
        description="Make another member an OWNER and become an ADMIN yourself.",
        extensions=[requires(HasPermission(Permission.OWNERSHIP_TRANSFER,
                                           org=org_from_argument("input.organization_id")))])
    async def transfer_ownership(self, info: Info,
                                 input: TransferOwnershipInput) -> Organization:
        return await resolvers.transfer_ownership(  # type: ignore[return-value]
            info.context, global_uuid(input.organization_id, "Organization", "organizationId"),
            _membership_id(input.membership_id))
