"""Deleting an account or an organization after a grace period: `deleteAccount`,
`cancelAccountDeletion`, `deleteOrganization`, `cancelOrganizationDeletion`,
`organizationDeletion` and `me.accountDeletion`. See resolvers/deletions.py for what ends at
once and what waits."""

from __future__ import annotations

import datetime

import strawberry
from strawberry import relay
from strawberry.permission import PermissionExtension

from auth.permissions import Permission
from engine.fields import Info, OrganizationArg, decode_id
from engine.permissions import (
    HasPermission,
    IsAuthenticated,
    org_from_argument,
    requires,
)
from models import accounts as account_models
from models import jobs as models
from resolvers import deletions as resolvers
from schema.accounts import VIEWER_ONLY, is_viewer
from schema.exports import WorkStatus, status_of


@strawberry.type(description="A deletion waiting for its grace period to end, or its outcome.")
class ScheduledDeletion:
    work: strawberry.Private[models.ScheduledWork]

    @strawberry.field(description="Opaque id of the deletion.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(relay.to_base64("ScheduledDeletion", str(self.work.id)))

    @strawberry.field(description="PENDING until `dueAt`, then RUNNING and DONE; CANCELED if "
                                  "called off; FAILED (with `error`) if retries ran out.")
    def status(self) -> WorkStatus:
        return status_of(self.work)

    @strawberry.field(description="When it was asked for.")
    def requested_at(self) -> datetime.datetime:
        return self.work.created_at

    @strawberry.field(description="When the deletion runs, unless canceled before.")
    def due_at(self) -> datetime.datetime:
        return self.work.due_at

    @strawberry.field(description="When it was canceled.")
    def canceled_at(self) -> datetime.datetime | None:
        return self.work.canceled_at

    @strawberry.field(description="Why it failed, when it did (support is alerted).")
    def error(self) -> str | None:
        return "The deletion could not be completed; support has been alerted." \
            if self.work.status is models.WorkStatus.FAILED else None


def _deletion(work: models.ScheduledWork | None) -> ScheduledDeletion | None:
    return ScheduledDeletion(work=work) if work is not None else None


@strawberry.type(description="What `Me` holds of deletions (`schema/composition.py` composes "
                             "`Me`). Not in the schema itself.")
class MeDeletionFields:
    @strawberry.field(description="Your account's scheduled deletion, if you asked for one. "
                                  + VIEWER_ONLY.format(empty="null"))
    async def account_deletion(self, root: strawberry.Parent[account_models.User],
                               info: Info) -> ScheduledDeletion | None:
        if not is_viewer(root, info):
            return None
        return _deletion(await resolvers.pending_account_deletion(info.context))


def _org_delete(path: str = "organization_id") -> PermissionExtension:
    return requires(HasPermission(Permission.ORG_DELETE, org=org_from_argument(path)),
                    IsAuthenticated())


@strawberry.input(description="Your password, to confirm deleting your account.")
class DeleteAccountInput:
    password: str = strawberry.field(description="Your password, to prove it is you.")


@strawberry.type(description="The result of `deleteAccount`.")
class DeleteAccountPayload:
    deleted_id: strawberry.ID = strawberry.field(
        description="The id of your account (`me.id`), deleted at `scheduledDeletion.dueAt` "
                    "unless you cancel before.")
    scheduled_deletion: ScheduledDeletion = strawberry.field(
        description="Your account's deletion, PENDING until `dueAt`.")


@strawberry.type(description="The result of `cancelAccountDeletion`.")
class CancelAccountDeletionPayload:
    scheduled_deletion: ScheduledDeletion = strawberry.field(
        description="Your account's deletion, now CANCELED.")


@strawberry.input(description="The organization to delete, and its slug typed again.")
class DeleteOrganizationInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    confirm_slug: str = strawberry.field(
        description="The organization's slug, typed again to confirm.")


@strawberry.type(description="The result of `deleteOrganization`.")
class DeleteOrganizationPayload:
    deleted_id: strawberry.ID = strawberry.field(
        description="The id of the organization, deleted at `scheduledDeletion.dueAt` unless "
                    "the deletion is canceled before.")
    scheduled_deletion: ScheduledDeletion = strawberry.field(
        description="The organization's deletion, PENDING until `dueAt`.")


@strawberry.input(description="The organization whose deletion to call off.")
class CancelOrganizationDeletionInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")


@strawberry.type(description="The result of `cancelOrganizationDeletion`.")
class CancelOrganizationDeletionPayload:
    scheduled_deletion: ScheduledDeletion = strawberry.field(
        description="The organization's deletion, now CANCELED.")


@strawberry.type
class DeletionQueries:
    @strawberry.field(description="The organization's scheduled deletion, if any (`org:delete`).",
                      extensions=[_org_delete()])
    async def organization_deletion(self, info: Info, organization_id: OrganizationArg
                                    ) -> ScheduledDeletion | None:
        org_id = decode_id(organization_id, "Organization", field="organizationId")
        return _deletion(await resolvers.pending_org_deletion(org_id))


@strawberry.type
class DeletionMutations:
    @strawberry.mutation(
        description="Delete your account after the grace period (ACCOUNT_DELETION_GRACE_DAYS, "
                    "14 days by default). Every session and every API token you created end "
                    "now; sign in again to cancel. CONFLICT if you are the only OWNER of an "
                    "organization with other members. Each try spends one of your account's "
                    "sign-in attempts (RATE_LIMITED with `retryAfter` once they are spent).",
        extensions=[requires(IsAuthenticated())])
    async def delete_account(self, info: Info, input: DeleteAccountInput) -> DeleteAccountPayload:
        work = await resolvers.delete_account(info.context, input.password)
        return DeleteAccountPayload(
            deleted_id=strawberry.ID(relay.to_base64("User", str(info.context.user.id))),
            scheduled_deletion=ScheduledDeletion(work=work))

    @strawberry.mutation(description="Call off your account's scheduled deletion.",
                         extensions=[requires(IsAuthenticated())])
    async def cancel_account_deletion(self, info: Info) -> CancelAccountDeletionPayload:
        return CancelAccountDeletionPayload(scheduled_deletion=ScheduledDeletion(
            work=await resolvers.cancel_account_deletion(info.context)))

    @strawberry.mutation(
        description="Delete the organization and all its data after the grace period "
                    "(`org:delete`, OWNER, a person). Its API tokens and OAuth grants are "
                    "revoked now, and its subscription stops renewing now (the paid period "
                    "goes on); the subscription is canceled when the deletion runs.",
        extensions=[_org_delete("input.organization_id")])
    async def delete_organization(self, info: Info, input: DeleteOrganizationInput
                                  ) -> DeleteOrganizationPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        work = await resolvers.delete_organization(info.context, org_id, input.confirm_slug)
        return DeleteOrganizationPayload(
            deleted_id=strawberry.ID(relay.to_base64("Organization", str(org_id))),
            scheduled_deletion=ScheduledDeletion(work=work))

    @strawberry.mutation(description="Call off the organization's scheduled deletion "
                                     "(`org:delete`). Revoked API tokens and grants stay "
                                     "revoked; the subscription renews again.",
                         extensions=[_org_delete("input.organization_id")])
    async def cancel_organization_deletion(self, info: Info,
                                           input: CancelOrganizationDeletionInput
                                           ) -> CancelOrganizationDeletionPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        return CancelOrganizationDeletionPayload(scheduled_deletion=ScheduledDeletion(
            work=await resolvers.cancel_organization_deletion(info.context, org_id)))
