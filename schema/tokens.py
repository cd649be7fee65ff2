"""Organization API tokens in the API: the `scopes` catalogue, `createApiToken`, `revokeApiToken`
and the `ApiToken` type listed by `organization.apiTokens` (`OrganizationTokenFields`).

Managing tokens needs `tokens:write` (OWNER and ADMIN) and a person: a token cannot mint tokens.
docs/partner-tokens.md describes the whole.
"""

from __future__ import annotations

import datetime
from typing import cast

import strawberry
from strawberry import relay

from auth.permissions import TOKEN_SCOPES, Permission
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
from models import orgs as org_models
from models import tokens as models
from resolvers import tokens as resolvers
from schema.accounts import User


@strawberry.type(description="A permission an API token may carry, e.g. `leads:read`.")
class Scope:
    name: str = strawberry.field(description="The scope's name, as `createApiToken` takes it.")
    description: str = strawberry.field(description="What it allows.")


@strawberry.type(description="A credential of one organization for a partner app or script: "
                             "it acts in that organization alone, with its scopes alone.")
class ApiToken(ModelNode):
    model = models.ApiToken

    id: relay.NodeID[str]
    name: str = strawberry.field(description="What it is for, e.g. `Zapier sync`.")
    prefix: str = strawberry.field(description="The start of its secret (`rlk_pat_` and 6 "
                                               "characters), to recognise it.")
    scopes: list[str] = strawberry.field(description="What it may do.")
    created_at: datetime.datetime = strawberry.field(description="When it was created.")
    expires_at: datetime.datetime | None = strawberry.field(
        description="When it stops working; null: never.")
    revoked_at: datetime.datetime | None = strawberry.field(
        description="When it was revoked; null while it works.")
    last_used_at: datetime.datetime | None = strawberry.field(
        description="When it was last used (to the minute); null: never.")
    last_used_ip: str | None = strawberry.field(description="The IP address it was last used "
                                                            "from.")

    created_by = relation(
        "created_by_id", "user", graphql_type=User | None,
        description="Who created it; null when that account is gone.")



@strawberry.type(description="What `Organization` holds of API tokens (`schema/composition.py` "
                             "composes `Organization`). Not in the schema itself.")
class OrganizationTokenFields:
    @relay.connection(Connection[ApiToken], description="API tokens, newest first, revoked "
                                                        "ones included (`tokens:write`).",
                      extensions=[requires(HasPermission(Permission.TOKENS_WRITE,
                                                         org=org_from_source()))])
    def api_tokens(self, root: strawberry.Parent[org_models.Organization],
                   info: Info) -> list[ApiToken]:
        return cast("list[ApiToken]", Rows(resolvers.tokens_query(info.context, root.id)))


MAX_SCOPES = len(Permission)
"""The most scope names a client may send: as many as there are."""


@strawberry.input(description="A new API token for an organization.")
class CreateApiTokenInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization it acts in.")
    name: str = strawberry.field(description="What it is for, 1 to 100 characters.")
    scopes: list[str] = strawberry.field(description="What it may do: names from the `scopes` "
                                                     "query, each one your role has, at most "
                                                     f"{MAX_SCOPES}.")
    expires_at: datetime.datetime | None = strawberry.field(
        default=None, description="When it stops working; null or absent: never.")


@strawberry.type(description="A token just created, with its secret.")
class CreateApiTokenPayload:
    api_token: ApiToken = strawberry.field(description="The token.")
    secret: str = strawberry.field(description="The secret, for `Authorization: Bearer`. Shown "
                                               "this once: only its hash is stored.")


@strawberry.input(description="The API token to revoke.")
class RevokeApiTokenInput:
    id: relay.GlobalID = strawberry.field(description="The token.")


@strawberry.type(description="What revokeApiToken revoked.")
class RevokeApiTokenPayload:
    api_token: ApiToken = strawberry.field(description="The token, with its `revokedAt`.")


@strawberry.type
class TokenQueries:
    @strawberry.field(description="Every scope an API token may carry, with what it allows.")
    def scopes(self) -> list[Scope]:
        return [Scope(name=p.value, description=p.description) for p in TOKEN_SCOPES]


@strawberry.type
class TokenMutations:
    @strawberry.mutation(
        description="Create an API token (`tokens:write`, a person). Its scopes cannot exceed "
                    "your role; the plan caps how many live tokens the organization holds.",
        extensions=[requires(HasPermission(Permission.TOKENS_WRITE,
                                           org=org_from_argument("input.organization_id")),
                             IsAuthenticated())])
    async def create_api_token(self, info: Info,
                               input: CreateApiTokenInput) -> CreateApiTokenPayload:
        at_most("scopes", input.scopes, MAX_SCOPES)
        org_id = decode_id(input.organization_id, "Organization", field="organizationId")
        created = await resolvers.create_api_token(
            info.context, org_id, name=input.name, scopes=input.scopes,
            expires_at=input.expires_at)
        return CreateApiTokenPayload(api_token=cast("ApiToken", created.token),
                                     secret=created.secret)

    @strawberry.mutation(
        description="Revoke an API token (`tokens:write`): it stops working at once.",
        extensions=[requires(HasPermission(Permission.TOKENS_WRITE,
                                           org=org_of(models.ApiToken, "ApiToken",
                                                      "input.id")))])
    async def revoke_api_token(self, info: Info,
                               input: RevokeApiTokenInput) -> RevokeApiTokenPayload:
        token = await resolvers.revoke_api_token(
            info.context, decode_id(input.id, "ApiToken", field="id"))
        return RevokeApiTokenPayload(api_token=cast("ApiToken", token))
