"""OAuth for partner apps in the API: registering apps, the consent (show, approve, deny) and the
grants an organization has given.

The consent is validated by the same authlib server as `/oauth/authorize` (`oauth/server.py`):
client, exact redirect URI, scopes within the app's, PKCE S256. On top, the approver may grant
only what their own role has (like an API token's creator) and never a person-only permission.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749.util import scope_to_list
from tortoise.queryset import QuerySet

from auth.access import exceeds
from auth.oauth_credentials import (
    CLIENT_SECRET_PREFIX,
    SHOWN_PREFIX_LENGTH,
    digest,
    new_client_id,
    new_secret,
)
from auth.permissions import PERSON_ONLY, ROLE_GRANTS, Permission, named_scopes, refuse_person_only
from auth.standing import refuse_while_deleting
from core.errors import BadUserInput, Forbidden, NotFound
from core.validation import hides_characters, validate
from engine.context import Context
from models.oauth import OAuthApp, OAuthCode, OAuthGrant
from models.orgs import Membership, Role
from oauth.server import Server, Unit, error_of, revoke_grant
from oauth.starlette import StarletteOAuth2Request, parameters_request
from realtime.outbox import in_transaction
from resolvers.activity import record

NAME_MAX = 100
MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
MAX_APPS_PER_PERSON = 25
LOOPBACK_HOSTS = {"localhost"}


@dataclass(frozen=True)
class RegisteredApp:
    app: OAuthApp
    client_secret: str


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI cannot be registered, or None: https (http only on loopback, for
    development), an absolute URI with a host, no fragment (RFC 6749 3.1.2), no credentials."""
    if len(uri) > MAX_URI_LENGTH:
        return f"at most {MAX_URI_LENGTH} characters"
    if hides_characters(uri, allowed=()) or " " in uri:
        return "must not contain spaces, control characters or invisible formatting characters"
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return "not a valid URI"
    if not host:
        return "must be an absolute URI with a host"
    if "#" in uri:
        return "must not contain a fragment"
    if parts.username or parts.password:
        return "must not contain credentials"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _is_loopback(host):
        return None
    return "must use https (http only on localhost, for development)"


def _clean_app_scopes(names: list[str]) -> list[str]:
    scopes = named_scopes(names)
    refuse_person_only(scopes, "an app cannot ask for it")
    return [p.value for p in scopes]


async def register_app(ctx: Context, *, name: str, redirect_uris: list[str],
                       scopes: list[str]) -> RegisteredApp:
    with validate() as check:
        name = check.name("name", name, max_length=NAME_MAX)
        uris = list(dict.fromkeys(uri.strip() for uri in redirect_uris))
        if check.require("redirectUris", 1 <= len(uris) <= MAX_REDIRECT_URIS,
                         f"1 to {MAX_REDIRECT_URIS} URIs"):
            for uri in uris:
                if (problem := redirect_uri_problem(uri)) is not None:
                    check.add("redirectUris", f"{uri[:100]}: {problem}")
        chosen = check.call(_clean_app_scopes, scopes) or []
    user = ctx.user
    if await OAuthApp.filter(owner_id=user.id).count() >= MAX_APPS_PER_PERSON:
        raise BadUserInput(f"You have {MAX_APPS_PER_PERSON} apps: delete one first.",
                           reason="APP_LIMIT")
    secret = new_secret(CLIENT_SECRET_PREFIX)
    app = await OAuthApp.create(owner_id=user.id, name=name, client_id=new_client_id(),
                                client_secret_hash=digest(secret),
                                secret_prefix=secret[:SHOWN_PREFIX_LENGTH],
                                redirect_uris=uris, scopes=chosen)
    return RegisteredApp(app=app, client_secret=secret)


def my_apps_query(ctx: Context) -> QuerySet[OAuthApp]:
    """The apps the viewer registered, newest first (`me.oauthApps` pages through it)."""
    return OAuthApp.filter(owner_id=ctx.user.id).order_by("-created_at", "-id")


async def delete_app(ctx: Context, app_id: uuid.UUID) -> bool:
    """Delete one of the viewer's apps: its grants, codes and tokens go with it, at once."""
    deleted = await OAuthApp.filter(id=app_id, owner_id=ctx.user.id).delete()
    if not deleted:
        raise NotFound("OAuth app", field="id")
    return True


# The consent.

@dataclass(frozen=True)
class AuthorizationParams:
    client_id: str
    redirect_uri: str
    scope: str | None
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request, as the consent page shows it."""

    app: OAuthApp
    scopes: list[Permission]
    organization_id: uuid.UUID
    redirect_uri: str
    state: str | None


@dataclass
class _Validated:
    server: Server
    unit: Unit
    request: StarletteOAuth2Request
    grant: object
    app: OAuthApp
    scopes: list[Permission]


async def _validate(ctx: Context, params: AuthorizationParams) -> _Validated:
    """authlib's validation of the request, as `/oauth/authorize` runs it. An unknown client or
    redirect URI is BAD_USER_INPUT naming the field (no redirect: it may be an attacker's);
    anything else also carries `oauthError` and the `redirectUrl` that reports it to the app."""
    unit = await Unit.load(client_ids=[params.client_id])
    server = Server(unit)
    base = ctx.services.settings.public_url.rstrip("/")
    request = parameters_request("GET", f"{base}/oauth/authorize", {
        "response_type": "code", "client_id": params.client_id,
        "redirect_uri": params.redirect_uri, "scope": params.scope, "state": params.state,
        "code_challenge": params.code_challenge,
        "code_challenge_method": params.code_challenge_method})
    try:
        grant = server.get_consent_grant(request, end_user=ctx.user)
    except OAuth2Error as error:
        _, _, location = error_of(error)
        message = error.get_error_description() or error.error
        if location is None:
            field = "clientId" if params.client_id not in unit.apps else "redirectUri"
            raise BadUserInput(f"{field}: {message}", {field: message},
                               oauthError=error.error) from None
        raise BadUserInput(message, oauthError=error.error, redirectUrl=location) from None
    app = unit.apps[params.client_id]
    scopes = [Permission(name) for name in scope_to_list(request.scope) or []]
    return _Validated(server, unit, request, grant, app, scopes)


async def authorization_request(ctx: Context, params: AuthorizationParams,
                                org_id: uuid.UUID) -> AuthorizationRequest:
    checked = await _validate(ctx, params)
    return AuthorizationRequest(app=checked.app, scopes=checked.scopes, organization_id=org_id,
                                redirect_uri=params.redirect_uri, state=params.state)


def _check_scopes(scopes: list[Permission], approver: Membership | None) -> None:
    granted = ROLE_GRANTS[approver.role] if approver else frozenset()
    for scope in scopes:
        if scope in PERSON_ONLY:
            raise BadUserInput.field("scope", f"only a person may use {scope.value}")
        if scope not in granted:
            raise Forbidden(f"Your role does not have the `{scope.value}` permission, so you "
                            "cannot grant it to an app.", permission=scope.value,
                            reason="SCOPE_ABOVE_ROLE")


async def approve(ctx: Context, params: AuthorizationParams, org_id: uuid.UUID) -> str:
    """Approve for the org: the redirect URL carrying a fresh code and the state. The scopes
    must all be within the approver's role (FORBIDDEN, reason SCOPE_ABOVE_ROLE, otherwise), and
    neither their account nor the org may be scheduled for deletion (CONFLICT)."""
    checked = await _validate(ctx, params)
    membership = await ctx.access.membership(org_id)
    _check_scopes(checked.scopes, membership)
    await refuse_while_deleting(ctx.user.id, org_id, "approve an app")
    checked.unit.organization_id = org_id
    _, _, headers = checked.server.create_authorization_response(
        checked.request, grant_user=ctx.user, grant=checked.grant)
    location = dict(headers).get("Location")
    if checked.unit.new_code is None or location is None or "code=" not in location:
        raise BadUserInput("The authorization request is not valid.")  # pragma: no cover
    async with in_transaction():
        # Again with the approver's role as it is now, the org locked: a demotion at this very
        # moment is either seen here or waits, and then ends this code with the others.
        _check_scopes(checked.scopes,
                      await ctx.access.require_now(org_id, Permission.APPS_AUTHORIZE))
        await checked.unit.apply()
        await record(ctx, org_id, "oauth_app.authorized", target_type="oauth_app",
                     target_id=checked.app.id,
                     summary={"app": checked.app.name, "clientId": checked.app.client_id,
                              "scopes": [s.value for s in checked.scopes]})
    return location


async def deny(ctx: Context, params: AuthorizationParams) -> str:
    """The redirect URL telling the app the person said no (`error=access_denied`)."""
    checked = await _validate(ctx, params)
    _, _, headers = checked.server.create_authorization_response(
        checked.request, grant_user=None, grant=checked.grant)
    return str(dict(headers)["Location"])


# The grants an organization gave.

def grants_query(ctx: Context, org_id: uuid.UUID) -> QuerySet[OAuthGrant]:
    """The org's live grants (apps it authorised and has not revoked), newest first."""
    return ctx.access.scoped(OAuthGrant, org_id).filter(revoked_at__isnull=True) \
        .order_by("-created_at", "-id")


async def revoke_grants_beyond_role(ctx: Context, org_id: uuid.UUID, approver_id: uuid.UUID,
                                   role: Role | None, reason: str) -> int:
    """End the live grants `approver_id` approved in the org that do more than their `role` now
    allows (every one when they are no longer a member), with their tokens, and their codes not
    yet exchanged that do; how many grants ended. Runs in the caller's transaction, as
    `resolvers.tokens.revoke_beyond_role` does.

    The codes go first: on PostgreSQL their UPDATE waits for an exchange of one of them that is
    under way, so the grants read next include the grant that exchange made."""
    now = datetime.now(UTC)
    await end_codes_beyond_role(ctx, org_id, approver_id, role, now)
    grants = await grants_query(ctx, org_id).filter(created_by_id=approver_id)
    ended = [grant for grant in grants if exceeds(grant, role)]
    apps = await ctx.loaders.oauth_app.load_many([grant.app_id for grant in ended])
    for grant, app in zip(ended, apps, strict=True):
        await revoke_grant(grant.id, now)
        await record(ctx, org_id, "oauth_app.revoked", target_type="oauth_grant",
                     target_id=grant.id, summary={"app": app.name if app else None,
                                                  "reason": reason})
    return len(ended)


async def end_codes_beyond_role(ctx: Context, org_id: uuid.UUID, approver_id: uuid.UUID,
                                role: Role | None, at: datetime) -> int:
    """Spend (unexchanged) the codes `approver_id` approved in the org that do more than `role`
    allows (all of them, with no role): the app's exchange then answers `invalid_grant`."""
    live = ctx.access.scoped(OAuthCode, org_id).filter(user_id=approver_id, used_at__isnull=True)
    ended = [code.id for code in await live if exceeds(code, role)]
    if ended:
        await ctx.access.scoped(OAuthCode, org_id).filter(id__in=ended, used_at__isnull=True) \
            .update(used_at=at)
    return len(ended)


async def revoke_oauth_grant(ctx: Context, grant_id: uuid.UUID) -> OAuthGrant:
    """End a grant and all its tokens at once. Revoking a revoked grant changes nothing."""
    grant = await ctx.row(OAuthGrant, grant_id, what="authorized app")
    if grant.revoked_at is not None:
        return grant
    grant.revoked_at = datetime.now(UTC)
    app = await ctx.loaders.oauth_app.load(grant.app_id)
    async with in_transaction():
        await revoke_grant(grant.id, grant.revoked_at)
        await record(ctx, grant.organization_id, "oauth_app.revoked", target_type="oauth_grant",
                     target_id=grant.id, summary={"app": app.name if app else None})
    return grant
