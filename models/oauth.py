"""OAuth 2 for partner apps: the apps people register, the codes and grants an organization's
admins approve, and the tokens issued under a grant.

An app (`OAuthApp`) belongs to the person who registered it, not to an organization: one partner
app serves many organizations. Each approval of an app by an organization becomes an
`OAuthGrant` (org, scopes, who approved) once its code is exchanged, and every token issued from
that code or its refresh tokens hangs off the grant, so revoking the grant ends all of them at
once. Secrets (client secret, codes, tokens) are stored as SHA-256 hashes only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Self

from tortoise import fields
from tortoise.queryset import QuerySet, UpdateQuery

from models.base import BaseModel
from models.orgs import Organization
from models.tenancy import TenantModel, before_org_known

if TYPE_CHECKING:
    from models.accounts import User


class OAuthApp(BaseModel):
    """A partner app registered by a person, with the redirect URIs and scopes it may use."""

    owner: fields.ForeignKeyRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="oauth_apps", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    client_id = fields.CharField(max_length=64, unique=True)
    client_secret_hash = fields.CharField(max_length=64)
    secret_prefix = fields.CharField(max_length=16)
    redirect_uris: fields.JSONField[list[str]] = fields.JSONField(default=list)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    owner_id: uuid.UUID

    class Meta:
        table = "oauth_apps"
        indexes = (("owner_id", "created_at"),)


class OAuthGrant(TenantModel):
    """One organization's approval of one app, with the scopes approved. Its tokens work until
    it is revoked. `created_by` is the person who approved it (as for an API token)."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="oauth_grants", on_delete=fields.CASCADE
    )
    app: fields.ForeignKeyRelation[OAuthApp] = fields.ForeignKeyField(
        "relleks.OAuthApp", related_name="grants", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "relleks.User", related_name="oauth_grants", null=True, on_delete=fields.SET_NULL
    )
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    app_id: uuid.UUID
    created_by_id: uuid.UUID | None

    class Meta:
        table = "oauth_grants"
        indexes = (("organization_id", "created_at"),)

    @classmethod
    def by_id(cls, grant_id: uuid.UUID) -> QuerySet[Self]:
        """One grant by id, for the OAuth endpoints (the app, not a member, is asking: the
        client's authentication stands in for the tenant check)."""
        return before_org_known(cls, reason="an OAuth client's grant", id=grant_id)


class OAuthCode(TenantModel):
    """An authorization code: short-lived, single use, bound to its app, redirect URI and PKCE
    challenge. `grant` is set when it is exchanged, so a reused code can revoke that grant."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="oauth_codes", on_delete=fields.CASCADE
    )
    app: fields.ForeignKeyRelation[OAuthApp] = fields.ForeignKeyField(
        "relleks.OAuthApp", related_name="codes", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[BaseModel] = fields.ForeignKeyField(
        "relleks.User", related_name="oauth_codes", on_delete=fields.CASCADE
    )
    grant: fields.ForeignKeyNullableRelation[OAuthGrant] = fields.ForeignKeyField(
        "relleks.OAuthGrant", related_name="codes", null=True, on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    redirect_uri = fields.CharField(max_length=2000)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    code_challenge = fields.CharField(max_length=128)
    code_challenge_method = fields.CharField(max_length=8)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    app_id: uuid.UUID
    user_id: uuid.UUID
    grant_id: uuid.UUID | None

    class Meta:
        table = "oauth_codes"

    @classmethod
    def by_hash(cls, code_hash: str) -> QuerySet[Self]:
        """The code a client presents, found before any organization is known."""
        return before_org_known(cls, reason="an OAuth client presents a code",
                                code_hash=code_hash)

    @classmethod
    def spend(cls, code_id: uuid.UUID, *, at: datetime, grant_id: uuid.UUID) -> UpdateQuery:
        """Mark a code used, only if it was not: the row count says whether this request won."""
        return before_org_known(
            cls, reason="spend an OAuth code", id=code_id).filter(
            used_at__isnull=True).update(used_at=at, grant_id=grant_id)


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class OAuthToken(TenantModel):
    """An access or refresh token issued under a grant. A refresh token is used once
    (`used_at`): presenting it again revokes the whole grant."""

    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "relleks.Organization", related_name="oauth_tokens", on_delete=fields.CASCADE
    )
    grant: fields.ForeignKeyRelation[OAuthGrant] = fields.ForeignKeyField(
        "relleks.OAuthGrant", related_name="tokens", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(TokenKind, max_length=8)
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    grant_id: uuid.UUID

    lookup_keys = ("grant_id",)

    class Meta:
        table = "oauth_tokens"

    @classmethod
    def by_hash(cls, token_hash: str) -> QuerySet[Self]:
        """The token a caller presents, found before any organization is known."""
        return before_org_known(cls, reason="an OAuth token is presented",
                                token_hash=token_hash)

    @classmethod
    def of_grant(cls, grant_id: uuid.UUID) -> QuerySet[Self]:
        return before_org_known(cls, reason="the tokens of an OAuth grant", grant_id=grant_id)
