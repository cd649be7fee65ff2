"""OAuth for partner apps in the API: `registerOAuthApp`, `deleteOAuthApp`, `me.oauthApps`, the
consent (`oauthAuthorizationRequest`, `approveOAuthAuthorization`, `denyOAuthAuthorization`) and
`organization.authorizedApps` / `revokeOAuthGrant` (`OrganizationOAuthFields`, `MeOAuthFields`).

Approving and managing an org's apps needs `apps:authorize` (OWNER and ADMIN) and a person.
docs/oauth.md describes the whole flow.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry import relay

from auth.permissions import Permission
from core.errors import at_most
from engine.fields import Connection, Info, ModelNode, Rows, decode_id, relation
from engine.permissions import (
    HasPermission,
    IsAuthenticated,
    org_from_argument,
    org_from_source,
    org_of,
    requires,
)
from models import accounts as account_models
from models import oauth as models
from models import orgs as org_models
from resolvers import oauth as resolvers
from schema.accounts import VIEWER_ONLY, User, is_viewer
from schema.tokens import MAX_SCOPES, Scope

if TYPE_CHECKING:
    from strawberry.extensions.field_extension import FieldExtension

    # The composed `Organization` (schema.composition), as type checkers see it.
    from schema.orgs import OrganizationBase as Organization


@strawberry.type(description="A partner app you registered, for OAuth 2 (docs/oauth.md).")
class OAuthApp(ModelNode):
    model = models.OAuthApp

    id: relay.NodeID[str]
    name: str = strawberry.field(description="The name people see when they approve it.")
    client_id: str = strawberry.field(description="Its OAuth `client_id` (public).")
    secret_prefix: str = strawberry.field(description="The start of its client secret "
                                                      "(`rlk_ocs_` and 6 characters).")
    redirect_uris: list[str] = strawberry.field(description="Where authorization may return "
                                                            "to; matched exactly.")
    scopes: list[str] = strawberry.field(description="The most it may ask for.")
    created_at: datetime.datetime = strawberry.field(description="When it was registered.")


@strawberry.type(description="A partner app as an organization sees it: its name and client id.")
class PartnerApp:
    name: str = strawberry.field(description="The app's name.")
    client_id: str = strawberry.field(description="Its OAuth `client_id`.")


@strawberry.type(description="A partner app an organization authorised: it acts in that "
                             "organization alone, with these scopes alone, until revoked.")
class AuthorizedApp(ModelNode):
    model = models.OAuthGrant

    id: relay.NodeID[str]
    scopes: list[str] = strawberry.field(description="What it may do.")
    last_used_at: datetime.datetime | None = strawberry.field(
        description="When one of its tokens was last used (to the minute); null: never.")

    @strawberry.field(description="When it was authorised.")
    def authorized_at(self, root: strawberry.Parent[models.OAuthGrant]) -> datetime.datetime:
        return root.created_at

    @strawberry.field(description="The app.")
    async def app(self, root: strawberry.Parent[models.OAuthGrant], info: Info) -> PartnerApp:
        return cast("PartnerApp", await info.context.loaders.oauth_app.load(root.app_id))

    authorized_by = relation(
        "created_by_id", "user", graphql_type=User | None,
        description="Who authorised it; null when that account is gone.")


@strawberry.type(description="What `Organization` holds of partner apps (`schema/composition.py` "
                             "composes `Organization`). Not in the schema itself.")
class OrganizationOAuthFields:
    @relay.connection(Connection[AuthorizedApp], description="Partner apps the organization "
                                                             "authorised and has not revoked, "
                                                             "newest first (`apps:authorize`).",
                      extensions=[requires(HasPermission(Permission.APPS_AUTHORIZE,
                                                         org=org_from_source()))])
    def authorized_apps(self, root: strawberry.Parent[org_models.Organization],
                        info: Info) -> list[AuthorizedApp]:
        return cast("list[AuthorizedApp]", Rows(resolvers.grants_query(info.context, root.id)))


@strawberry.type(description="What `Me` holds of partner apps (`schema/composition.py` composes "
                             "`Me`). Not in the schema itself.")
class MeOAuthFields:
    @relay.connection(
        Connection[OAuthApp], name="oauthApps",
        description="The partner apps you registered (OAuth), newest first (creating stops at "
                    f"{resolvers.MAX_APPS_PER_PERSON}). " + VIEWER_ONLY.format(empty="empty"))
    def oauth_apps(self, root: strawberry.Parent[account_models.User],
                   info: Info) -> list[OAuthApp]:
        if not is_viewer(root, info):
            return []
        return cast("list[OAuthApp]", Rows(resolvers.my_apps_query(info.context)))


@strawberry.input(description="A new partner app.")
class RegisterOAuthAppInput:
    name: str = strawberry.field(description="Its name, 1 to 100 characters, shown when people "
                                             "approve it.")
    redirect_uris: list[str] = strawberry.field(
        description=f"1 to {resolvers.MAX_REDIRECT_URIS} redirect URIs (at most "
                    f"{resolvers.MAX_REDIRECT_URIS} as sent): https, or http on "
                    "localhost/127.0.0.1/[::1] for development; no fragment.")
    scopes: list[str] = strawberry.field(description="The most it may ask for: names from the "
                                                     f"`scopes` query, at most {MAX_SCOPES}.")


@strawberry.type(description="An app just registered, with its client secret.")
class RegisterOAuthAppPayload:
    oauth_app: OAuthApp = strawberry.field(description="The app, with its `clientId`.")
    client_secret: str = strawberry.field(description="Its client secret. Shown this once: "
                                                      "only its hash is stored.")


@strawberry.input(description="An authorization request, as the app sent it to "
                              "`/oauth/authorize`, and the organization it is for.")
class OAuthAuthorizationInput:
    """The fields approving and declining share; each mutation has its own input type."""

    client_id: str = strawberry.field(description="`client_id`.")
    redirect_uri: str = strawberry.field(description="`redirect_uri`.")
    scope: str | None = strawberry.field(default=None, description="`scope` (space-separated); "
                                                                   "absent: the app's scopes.")
    state: str | None = strawberry.field(default=None, description="`state`, returned as is.")
    code_challenge: str | None = strawberry.field(default=None, description="`code_challenge`.")
    code_challenge_method: str | None = strawberry.field(
        default=None, description="`code_challenge_method`: must be `S256`.")
    organization_id: relay.GlobalID = strawberry.field(
        description="The organization the app will act in.")


@strawberry.input(description="The authorization request to approve, as the app sent it to "
                              "`/oauth/authorize`, and the organization it is for.")
class ApproveOAuthAuthorizationInput(OAuthAuthorizationInput):
    pass


@strawberry.input(description="The authorization request to decline, as the app sent it to "
                              "`/oauth/authorize`, and the organization it was for.")
class DenyOAuthAuthorizationInput(OAuthAuthorizationInput):
    pass


@strawberry.input(description="The partner app to delete.")
class DeleteOAuthAppInput:
    id: relay.GlobalID = strawberry.field(description="The app.")


@strawberry.input(description="The authorization to revoke.")
class RevokeOAuthGrantInput:
    id: relay.GlobalID = strawberry.field(
        description="The authorized app (`organization.authorizedApps`).")


def _params(input: OAuthAuthorizationInput) -> resolvers.AuthorizationParams:
    return resolvers.AuthorizationParams(
        client_id=input.client_id, redirect_uri=input.redirect_uri, scope=input.scope,
        state=input.state, code_challenge=input.code_challenge,
        code_challenge_method=input.code_challenge_method)


@strawberry.type(description="What a partner app asks for, to show on the consent page.")
class OAuthAuthorizationRequest:
    app: PartnerApp = strawberry.field(description="The app asking.")
    scopes: list[Scope] = strawberry.field(description="What it asks to do, with what each "
                                                       "allows.")
    organization_id: relay.GlobalID = strawberry.field(
        description="The organization it would act in.")
    redirect_uri: str = strawberry.field(description="Where the answer goes.")
    state: str | None = strawberry.field(description="The app's `state`.")

    @strawberry.field(description="The organization it would act in.")
    async def organization(
        self, info: Info
    ) -> Annotated[Organization, strawberry.lazy("schema.composition")]:
        org = await info.context.loaders.organization.load(
            decode_id(self.organization_id, "Organization", field="organizationId"))
        return cast("Organization", org)


@strawberry.type(description="Where to send the browser back to the app.")
class OAuthRedirect:
    redirect_url: str = strawberry.field(description="The app's redirect URI with `code` and "
                                                     "`state`, or `error` and `state`.")


@strawberry.type(description="What deleteOAuthApp deleted.")
class DeleteOAuthAppPayload:
    deleted_id: relay.GlobalID = strawberry.field(description="The deleted app's id.")


@strawberry.type(description="Where approveOAuthAuthorization sends the browser.")
class ApproveOAuthAuthorizationPayload:
    oauth_redirect: OAuthRedirect = strawberry.field(
        description="Back to the app, with the authorization code.")


@strawberry.type(description="Where denyOAuthAuthorization sends the browser.")
class DenyOAuthAuthorizationPayload:
    oauth_redirect: OAuthRedirect = strawberry.field(
        description="Back to the app, with `error=access_denied`.")


@strawberry.type(description="What revokeOAuthGrant revoked.")
class RevokeOAuthGrantPayload:
    authorized_app: AuthorizedApp = strawberry.field(
        description="The authorization, as it was; it no longer works.")


def _consent_guard(path: str = "input.organization_id") -> list[FieldExtension]:
    return [requires(HasPermission(Permission.APPS_AUTHORIZE, org=org_from_argument(path)),
                     IsAuthenticated())]


@strawberry.type
class OAuthQueries:
    @strawberry.field(
        description="Check an authorization request for the consent page (`apps:authorize` "
                    "in the organization, a person). Refusals are BAD_USER_INPUT; when the app "
                    "should hear of one, `extensions.redirectUrl` tells it (RFC 6749 4.1.2.1).",
        extensions=_consent_guard("organization_id"))
    async def oauth_authorization_request(
        self, info: Info,
        client_id: Annotated[str, strawberry.argument(description="`client_id`.")],
        redirect_uri: Annotated[str, strawberry.argument(description="`redirect_uri`.")],
        organization_id: Annotated[relay.GlobalID, strawberry.argument(
            description="The organization the app would act in.")],
        scope: Annotated[str | None, strawberry.argument(
            description="`scope` (space-separated); absent: the app's scopes.")] = None,
        state: Annotated[str | None, strawberry.argument(description="`state`.")] = None,
        code_challenge: Annotated[str | None, strawberry.argument(
            description="`code_challenge`.")] = None,
        code_challenge_method: Annotated[str | None, strawberry.argument(
            description="`code_challenge_method`: must be `S256`.")] = None,
    ) -> OAuthAuthorizationRequest:
        org_id = decode_id(organization_id, "Organization", field="organizationId")
        params = resolvers.AuthorizationParams(
            client_id=client_id, redirect_uri=redirect_uri, scope=scope, state=state,
            code_challenge=code_challenge, code_challenge_method=code_challenge_method)
        found = await resolvers.authorization_request(info.context, params, org_id)
        return OAuthAuthorizationRequest(
            app=cast("PartnerApp", found.app),
            scopes=[Scope(name=s.value, description=s.description) for s in found.scopes],
            organization_id=organization_id, redirect_uri=found.redirect_uri,
            state=found.state)


@strawberry.type
class OAuthMutations:
    @strawberry.mutation(name="registerOAuthApp",
                         description="Register a partner app (a person). Its client secret is "
                                     "shown once.", extensions=[requires(IsAuthenticated())])
    async def register_oauth_app(self, info: Info,
                                  input: RegisterOAuthAppInput) -> RegisterOAuthAppPayload:
        at_most("redirectUris", input.redirect_uris, resolvers.MAX_REDIRECT_URIS)
        at_most("scopes", input.scopes, MAX_SCOPES)
        made = await resolvers.register_app(info.context, name=input.name,
                                            redirect_uris=input.redirect_uris,
                                            scopes=input.scopes)
        return RegisterOAuthAppPayload(oauth_app=cast("OAuthApp", made.app),
                                       client_secret=made.client_secret)

    @strawberry.mutation(name="deleteOAuthApp",
                         description="Delete one of your partner apps: every organization's "
                                     "authorization of it ends at once.",
                         extensions=[requires(IsAuthenticated())])
    async def delete_oauth_app(self, info: Info,
                               input: DeleteOAuthAppInput) -> DeleteOAuthAppPayload:
        await resolvers.delete_app(info.context, decode_id(input.id, "OAuthApp", field="id"))
        return DeleteOAuthAppPayload(deleted_id=input.id)

    @strawberry.mutation(
        name="approveOAuthAuthorization",
        description="Approve an authorization request for the organization (`apps:authorize`, "
                    "a person). The scopes must all be within your role. Send the browser to "
                    "the returned URL: it carries the code (valid 5 minutes, once).",
        extensions=_consent_guard())
    async def approve_oauth_authorization(
            self, info: Info,
            input: ApproveOAuthAuthorizationInput) -> ApproveOAuthAuthorizationPayload:
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        url = await resolvers.approve(info.context, _params(input), org_id)
        return ApproveOAuthAuthorizationPayload(oauth_redirect=OAuthRedirect(redirect_url=url))

    @strawberry.mutation(
        name="denyOAuthAuthorization",
        description="Decline an authorization request (a person): the returned URL tells the "
                    "app `error=access_denied`.", extensions=[requires(IsAuthenticated())])
    async def deny_oauth_authorization(
            self, info: Info,
            input: DenyOAuthAuthorizationInput) -> DenyOAuthAuthorizationPayload:
        url = await resolvers.deny(info.context, _params(input))
        return DenyOAuthAuthorizationPayload(oauth_redirect=OAuthRedirect(redirect_url=url))

    @strawberry.mutation(
        name="revokeOAuthGrant",
        description="Revoke an app's authorization (`apps:authorize`): its tokens stop "
                    "working at once.",
        extensions=[requires(HasPermission(Permission.APPS_AUTHORIZE,
                                           org=org_of(models.OAuthGrant, "AuthorizedApp",
                                                      "input.id")),
                             IsAuthenticated())])
    async def revoke_oauth_grant(self, info: Info,
                                 input: RevokeOAuthGrantInput) -> RevokeOAuthGrantPayload:
        grant = await resolvers.revoke_oauth_grant(
            info.context, decode_id(input.id, "AuthorizedApp", field="id"))
        return RevokeOAuthGrantPayload(authorized_app=cast("AuthorizedApp", grant))
