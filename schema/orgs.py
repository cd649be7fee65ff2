"""Organizations in the API: the tenant, its members and pending invitations.

Every org-owned field declares the permission it needs and where its org comes from; the
resolvers below it then read through the tenant scope (`ctx.access.scoped`).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from core.errors import BadUserInput
from engine.compiler import LocatedRow, PageOf, compiled
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, described_enum, relation
from engine.permissions import (
    BelongsToOrg,
    HasPermission,
    IsAuthenticated,
    org_from_argument,
    org_from_slug,
    org_from_source,
    requires,
)
from engine.selection import prefetch_page
from models import accounts as account_models
from models import orgs as models
from resolvers import members as member_resolvers
from resolvers import orgs as resolvers
from schema.accounts import VIEWER_ONLY, User, is_viewer

Role = models.Role
described_enum(
    models.Role, description="A member's role, from most to least powerful. The README's "
                             "matrix says what each may do; `viewerPermissions` lists yours.",
    values={
        models.Role.OWNER: "Everything, including billing (`billing:write`), handing over "
                           "ownership, exporting and deleting the organization. An "
                           "organization always keeps at least one.",
        models.Role.ADMIN: "Runs the organization: settings, members below ADMIN, "
                           "invitations, the activity log, billing (read), API tokens, partner "
                           "apps, privacy requests, and any lead or note.",
        models.Role.MEMBER: "Works leads: reads the organization and its members, creates, "
                            "edits, assigns, imports and exports leads, and adds notes.",
        models.Role.VIEWER: "Reads the organization, its members, leads and notes; changes "
                            "nothing.",
    })


@strawberry.type(description="A user's place in an organization.")
class Membership(ModelNode):
    model = models.Membership

    id: relay.NodeID[str]
    role: Role = strawberry.field(description="What the member may do.")

    @strawberry.field(description="When the user joined.")
    def joined_at(self, root: strawberry.Parent[models.Membership]) -> datetime.datetime:
        return root.created_at

    user = relation(
        "user_id", "user", graphql_type=User,
        description="The member.")

    @strawberry.field(description="The organization.")
    async def organization(
        self, root: strawberry.Parent[models.Membership], info: Info
    ) -> Annotated[Organization, strawberry.lazy("schema.composition")]:
        return cast("Organization", await resolvers.organization(
            info.context, root.organization_id))



@strawberry.type(description="A pending invitation to join an organization.")
class Invitation(ModelNode):
    model = models.Invitation

    id: relay.NodeID[str]
    email: str = strawberry.field(description="Who was invited.")
    role: Role = strawberry.field(description="The role they get on accepting.")
    created_at: datetime.datetime = strawberry.field(description="When it was sent first.")
    expires_at: datetime.datetime = strawberry.field(description="When the link stops working.")

    invited_by = relation(
        "invited_by_id", "user", graphql_type=User | None,
        description="Who sent it; null when that account is gone.")



@strawberry.type(description="An organization's identity and the viewer's place in it: the base "
                             "of `Organization`, which `schema/composition.py` composes with the "
                             "fields the other domains contribute. Not in the schema itself.")
class OrganizationBase(ModelNode):
    model = models.Organization

    id: relay.NodeID[str]
    name: str = strawberry.field(description="Display name.")
    slug: str = strawberry.field(description="Unique, URL-safe handle.")

    @strawberry.field(description="When it was created (`org:read`).",
                      extensions=[requires(HasPermission(Permission.ORG_READ,
                                                         org=org_from_source()))])
    def created_at(self, root: strawberry.Parent[models.Organization]) -> datetime.datetime:
        return root.created_at

    @strawberry.field(description="The viewer's role here (`org:read`).",
                      extensions=[requires(HasPermission(Permission.ORG_READ,
                                                         org=org_from_source()))])
    async def viewer_role(self, root: strawberry.Parent[models.Organization],
                          info: Info) -> Role:
        membership = await info.context.access.membership(root.id)
        assert membership is not None  # the permission found it
        return membership.role

    @strawberry.field(description="The viewer's permissions here, by name (e.g. "
                                  "`members:write`) (`org:read`).",
                      extensions=[requires(HasPermission(Permission.ORG_READ,
                                                         org=org_from_source()))])
    async def viewer_permissions(self, root: strawberry.Parent[models.Organization],
                                 info: Info) -> list[str]:
        return sorted(p.value for p in await info.context.access.permissions(root.id))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                            required: bool = False) -> list:
        ids: list[uuid.UUID | None] = []
        for node_id in node_ids:
            try:
                ids.append(uuid.UUID(node_id))
            except ValueError:
                ids.append(None)
        found = await resolvers.visible_organizations(info.context, [i for i in ids if i])
        by_id = {org.id: org for org in found if org is not None}
        return [by_id.get(i) if i else None for i in ids]


if TYPE_CHECKING:
    # What type checkers see of the composed type. At run time the name stays undefined here,
    # so that Strawberry follows the lazy reference to `schema.composition`, which this module
    # never imports (the composition builds on it).
    Organization = OrganizationBase


@strawberry.type(description="The members and invitations of `Organization`. Not in the schema "
                             "itself.")
class OrganizationMemberFields:
    @relay.connection(Connection[Membership], description="Members, oldest first.",
                      extensions=[requires(HasPermission(Permission.MEMBERS_READ,
                                                         org=org_from_source()))],
                      metadata=compiled(PageOf(models.Membership, parent_key="organization_id",
                                               order=(("created_at", False), ("id", False)))))
    def members(self, root: strawberry.Parent[models.Organization],
                info: Info) -> list[Membership]:
        async def prefetch(rows: list[models.Membership]) -> None:
            await prefetch_page(info, rows, Membership)
        return cast("list[Membership]", Rows(
            member_resolvers.members_query(info.context, root.id), prefetch))

    @relay.connection(Connection[Invitation], description="Pending invitations, newest first.",
                      extensions=[requires(HasPermission(Permission.MEMBERS_INVITE,
                                                         org=org_from_source()))])
    def invitations(self, root: strawberry.Parent[models.Organization],
                    info: Info) -> list[Invitation]:
        return cast("list[Invitation]", Rows(
            member_resolvers.pending_invitations_query(info.context, root.id)))


@strawberry.type(description="What `Me` holds of organizations (`schema/composition.py` composes "
                             "`Me`). Not in the schema itself.")
class MeOrgFields:
    @relay.connection(
        Connection[Membership],
        description="Your organizations and your role in each, the oldest first. "
                    + VIEWER_ONLY.format(empty="empty"))
    def memberships(self, root: strawberry.Parent[account_models.User],
                    info: Info) -> list[Membership]:
        if not is_viewer(root, info):
            return []
        ctx = info.context

        async def prime(rows: list[Any]) -> None:
            resolvers.prime_memberships(ctx, rows)

        return cast("list[Membership]", Rows(resolvers.my_memberships_query(ctx), prime))


NAME_RULE = (
    "No control or invisible formatting characters (bidi overrides, zero-width characters) "
    "and nothing that looks like a web address: no `http://` (or other scheme), no `www.`, "
    "no dot directly followed by two letters or digits (`example.com`, `St.Pauli`: write "
    "`St. Pauli`). `Acme Inc.`, `A.C.M.E.` and `Smith & Sons` are fine. Invitations quote the "
    "name to people outside the organization.")
"""What an organization's name may not hold (`resolvers.orgs.clean_org_name`)."""


@strawberry.input(description="A new organization. You become its OWNER.")
class CreateOrganizationInput:
    name: str = strawberry.field(description="1 to 120 characters. " + NAME_RULE)
    slug: str | None = strawberry.field(
        default=None, description="3-48 lowercase letters, digits and hyphens; derived from "
                                  "the name when absent.")


@strawberry.input(description="Fields to change; absent fields stay as they are.")
class UpdateOrganizationInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization to change.")
    # `| None` so that an explicit null reaches us and is refused naming its field.
    name: strawberry.Maybe[str | None] = strawberry.field(
        description="The new name, 1 to 120 characters. " + NAME_RULE + " Null is refused.")
    slug: strawberry.Maybe[str | None] = strawberry.field(
        description="The new slug, 3-48 lowercase letters, digits and hyphens. The old slug "
                    "stops working at once. Null is refused.")


def _given(value: strawberry.Maybe[str | None], field: str) -> str | None:
    """The new value of a field, None when absent; an explicit null is BAD_USER_INPUT."""
    if value is None:
        return None
    if value.value is None:
        raise BadUserInput.field(field, "cannot be null: leave it out to keep it unchanged")
    return value.value


@strawberry.type
class OrgQueries:
    @strawberry.field(description="An organization you belong to, by slug: any credential "
                                  "of it (a member of any role, an API token or partner app "
                                  "of it, whatever its scopes) reads its identity and reaches "
                                  "its lists, each of which needs its own permission. Any "
                                  "other slug is NOT_FOUND, whether or not it exists: the "
                                  "field is then null, and other root fields of the same "
                                  "request still answer.",
                      extensions=[requires(BelongsToOrg(org=org_from_slug()))],
                      metadata=compiled(LocatedRow("organization")))
    async def organization(self, info: Info, slug: Annotated[str, strawberry.argument(
            description="The organization's slug, in any letter case.")]
    ) -> Annotated[Organization, strawberry.lazy("schema.composition")] | None:
        org_id = await info.context.loaders.org_id_by_slug.load(slug.lower())
        assert org_id is not None  # the permission found it
        return cast("Organization", await resolvers.organization(info.context, org_id))


@strawberry.type(description="What createOrganization made.")
class CreateOrganizationPayload:
    organization: Annotated[Organization, strawberry.lazy("schema.composition")] = strawberry.field(
        description="The new organization; you are its OWNER.")


@strawberry.type(description="What updateOrganization changed.")
class UpdateOrganizationPayload:
    organization: Annotated[Organization, strawberry.lazy("schema.composition")] = \
        strawberry.field(description="The organization, as it is now.")


@strawberry.type
class OrgMutations:
    @strawberry.mutation(description="Create an organization; you become its OWNER.",
                         extensions=[requires(IsAuthenticated())])
    async def create_organization(self, info: Info,
                                  input: CreateOrganizationInput) -> CreateOrganizationPayload:
        org = await resolvers.create_organization(info.context, name=input.name,
                                                  slug=input.slug)
        return CreateOrganizationPayload(organization=cast("Organization", org))

    @strawberry.mutation(description="Rename the organization or change its slug.",
                         extensions=[requires(HasPermission(
                             Permission.ORG_WRITE,
                             org=org_from_argument("input.organization_id")))])
    async def update_organization(self, info: Info,
                                  input: UpdateOrganizationInput) -> UpdateOrganizationPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        org = await resolvers.update_organization(
            info.context, org_id,
            name=_given(input.name, "name"), slug=_given(input.slug, "slug"))
        return UpdateOrganizationPayload(organization=cast("Organization", org))
