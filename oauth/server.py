"""The OAuth 2 authorization server: authlib's, run without I/O between a load and a write.

authlib's `AuthorizationServer` is synchronous: it calls `query_client`, `save_token` and the
grants' hooks as plain functions. Our database is async. So each OAuth request runs in three
steps, all in one task:

1. `Unit.load(...)`: read every row the request can name (the app by its client id, the code or
   token it presents, each by its hash) in async code;
2. authlib decides, synchronously, over those rows: client authentication, redirect URI (exact
   match), scope, PKCE (S256 only), code or refresh token validity. Its callbacks never touch
   the database: they record what should change on the `Unit`;
3. `Unit.apply()` writes it in one transaction: the code or refresh token is spent with a
   conditional UPDATE (so two concurrent uses cannot both win), the grant and tokens are created,
   and a reused code or refresh token revokes the grant it belongs to.

A grant is created when its code is exchanged; every token of that code and of its refresh
tokens belongs to it, and a revoked grant ends them all at once (authentication checks it).

A code and its grant act with the approver's standing (`auth/standing.py`): the exchange and
every refresh check it again (still a member, the role granting every scope, neither the account
nor the organization scheduled for deletion). A code that fails it is spent unexchanged and a
refresh that fails it ends the grant; both answer `invalid_grant`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from auth.oauth_credentials import ACCESS_PREFIX, REFRESH_PREFIX, digest, new_code, new_secret
from auth.permissions import TOKEN_SCOPES
from auth.standing import Standing, standing
from core.settings import Settings
from models.oauth import OAuthApp, OAuthCode, OAuthGrant, OAuthToken, TokenKind
from realtime.outbox import in_transaction

CODE_TTL = timedelta(minutes=5)
ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=30)
GRANT_TYPES = ("authorization_code", "refresh_token")
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
SCOPES_SUPPORTED = [p.value for p in TOKEN_SCOPES]
NOT_BACKED = "The person who approved this authorization can no longer grant it."


def order_scopes(names: list[str]) -> list[str]:
    """Scope names in declaration order, each once."""
    return [name for name in SCOPES_SUPPORTED if name in set(names)]


# authlib's model protocols, over our rows.

class Client(ClientMixin):
    """An `OAuthApp` as authlib's client: a confidential client (it has a secret), allowed the
    authorization code and refresh token grants, its registered redirect URIs exactly."""

    def __init__(self, app: OAuthApp) -> None:
        self.app = app

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # the request must name one of the registered URIs

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope:
            return " ".join(order_scopes(self.app.scopes))
        wanted = scope_to_list(scope)
        if not set(wanted) <= set(self.app.scopes):
            return None
        return " ".join(order_scopes(wanted))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.app.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(digest(client_secret), self.app.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in CLIENT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class Code:
    """An `OAuthCode` as authlib's authorization code."""

    def __init__(self, row: OAuthCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.row.scopes)


class Token:
    """An `OAuthToken` (its grant loaded) as authlib's token."""

    def __init__(self, row: OAuthToken, now: datetime) -> None:
        self.row = row
        self.now = now

    def check_client(self, client: Client) -> bool:
        return self.row.grant.app_id == client.app.id

    def get_scope(self) -> str:
        return " ".join(self.row.grant.scopes)

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.created_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.grant.revoked_at is not None


@dataclass
class NewCode:
    code: str
    client: Client
    user_id: uuid.UUID
    redirect_uri: str
    scopes: list[str]
    code_challenge: str
    code_challenge_method: str


@dataclass
class Unit:
    """What one OAuth request may read (loaded before authlib runs) and what authlib decided
    should change (written after it, by `apply`)."""

    apps: dict[str, OAuthApp]
    now: datetime
    code: OAuthCode | None = None
    token: OAuthToken | None = None
    organization_id: uuid.UUID | None = None
    standing: Standing | None = None
    """The standing of the code's approver, or of the refresh token's grant's approver."""
    # Decisions.
    issued: list[dict[str, Any]] = field(default_factory=list)
    new_code: NewCode | None = None
    spent_code: OAuthCode | None = None
    void_code: OAuthCode | None = None
    """A code refused because its approver's standing no longer backs it: spent unexchanged."""
    spent_refresh: OAuthToken | None = None
    revoke_grants: set[uuid.UUID] = field(default_factory=set)
    revoke_token: OAuthToken | None = None
    grant: OAuthGrant | None = None
    """The grant the issued tokens belong to, once `apply` made or found it."""

    @classmethod
    async def load(cls, *, client_ids: list[str | None], code: str | None = None,
                   token: str | None = None) -> Unit:
        """Every row the request names, and the standing of the person who approved the code or
        the refresh token's grant: at most five queries, none when it names nothing."""
        wanted = [c for c in client_ids if c]
        apps = {a.client_id: a for a in await OAuthApp.filter(client_id__in=wanted)} \
            if wanted else {}
        unit = cls(apps=apps, now=datetime.now(UTC))
        if code:
            unit.code = await OAuthCode.by_hash(digest(code)).first()
            if unit.code is not None:
                unit.standing = await standing(unit.code.user_id, unit.code.organization_id)
        if token:
            unit.token = await OAuthToken.by_hash(digest(token)).select_related("grant").first()
            if unit.token is not None and unit.token.kind == TokenKind.REFRESH:
                grant = unit.token.grant
                unit.standing = await standing(grant.created_by_id, grant.organization_id)
        return unit

    def backed(self, credential: OAuthCode | OAuthGrant) -> bool:
        """Whether the approver's standing (loaded with the code or token) still backs it."""
        return self.standing is not None and self.standing.allows(credential)

    async def apply(self) -> bool:
        """Write what authlib decided. False when a code or refresh token was spent by another
        request meanwhile: then nothing was issued, the grant is revoked, and the caller
        answers `invalid_grant` instead of the tokens authlib produced."""
        try:
            async with in_transaction():
                await self._apply()
        except _LostRace as lost:
            self.revoke_grants.add(lost.grant_id)
            self.issued.clear()
            await self._revoke_grants()
            return False
        return True

    async def _apply(self) -> None:
        await self._revoke_grants()
        if self.revoke_token is not None:
            await self._revoke(self.revoke_token)
        if self.void_code is not None:
            await OAuthCode.by_hash(self.void_code.code_hash).filter(used_at__isnull=True) \
                .update(used_at=self.now)
        if self.spent_code is not None:
            code = self.spent_code
            self.grant = await OAuthGrant.create(
                organization_id=code.organization_id, app_id=code.app_id,
                created_by_id=code.user_id, scopes=code.scopes)
            if not await OAuthCode.spend(code.id, at=self.now, grant_id=self.grant.id):
                winner = await OAuthCode.by_hash(code.code_hash).first()
                raise _LostRace(winner.grant_id if winner and winner.grant_id else self.grant.id)
        if self.spent_refresh is not None:
            refresh = self.spent_refresh
            self.grant = refresh.grant
            spent = await OAuthToken.by_hash(refresh.token_hash) \
                .filter(used_at__isnull=True).update(used_at=self.now)
            if not spent:
                raise _LostRace(refresh.grant_id)
        for issued in self.issued:
            assert self.grant is not None
            await self._save_token(self.grant, issued)
        if self.new_code is not None:
            await self._save_code(self.new_code)

    async def _save_token(self, grant: OAuthGrant, issued: dict[str, Any]) -> None:
        rows = [(TokenKind.ACCESS, issued["access_token"], ACCESS_TTL)]
        if issued.get("refresh_token"):
            rows.append((TokenKind.REFRESH, issued["refresh_token"], REFRESH_TTL))
        for kind, secret, ttl in rows:
            await OAuthToken.create(organization_id=grant.organization_id, grant_id=grant.id,
                                    kind=kind, token_hash=digest(secret),
                                    expires_at=self.now + ttl)

    async def _save_code(self, new: NewCode) -> None:
        assert self.organization_id is not None
        await OAuthCode.create(
            organization_id=self.organization_id, app_id=new.client.app.id,
            user_id=new.user_id,
            code_hash=digest(new.code), redirect_uri=new.redirect_uri, scopes=new.scopes,
            code_challenge=new.code_challenge, code_challenge_method=new.code_challenge_method,
            expires_at=self.now + CODE_TTL)

    async def _revoke(self, token: OAuthToken) -> None:
        """RFC 7009: an access token ends alone; a refresh token ends its whole grant (the
        access tokens issued with it included)."""
        if token.kind == TokenKind.REFRESH:
            self.revoke_grants.add(token.grant_id)
            await self._revoke_grants()
        else:
            await OAuthToken.by_hash(token.token_hash).update(revoked_at=self.now)

    async def _revoke_grants(self) -> None:
        for grant_id in self.revoke_grants:
            await revoke_grant(grant_id, self.now)


class _LostRace(Exception):
    def __init__(self, grant_id: uuid.UUID) -> None:
        super().__init__("spent by another request")
        self.grant_id = grant_id


async def revoke_grant(grant_id: uuid.UUID, at: datetime) -> None:
    """End a grant and every token issued under it (authentication checks both)."""
    await OAuthGrant.by_id(grant_id).filter(revoked_at__isnull=True).update(revoked_at=at)
    await OAuthToken.of_grant(grant_id).filter(revoked_at__isnull=True).update(revoked_at=at)


# The grants and endpoints, their storage callbacks writing to the request's Unit.

class S256Challenge(CodeChallenge):
    """PKCE with S256 only: a challenge is required on every authorization request, `plain`
    (and a missing method, which RFC 7636 reads as plain) is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with "
                                      "'code_challenge_method=S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    @property
    def unit(self) -> Unit:
        return self.server.unit

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        self.unit.new_code = NewCode(
            code=code, client=request.client, user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri,
            scopes=scope_to_list(request.scope) or [], code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"])

    def generate_authorization_code(self) -> str:
        return new_code()

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        row = self.unit.code
        if row is None or row.code_hash != digest(code) or row.app_id != client.app.id:
            return None
        if row.used_at is not None:
            # RFC 6749 4.1.2: a code used twice revokes what was issued from it.
            if row.grant_id is not None:
                self.unit.revoke_grants.add(row.grant_id)
            return None
        if row.expires_at <= self.unit.now:
            return None
        if not self.unit.backed(row):
            self.unit.void_code = row
            raise InvalidGrantError(NOT_BACKED)
        return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.unit.spent_code = authorization_code.row

    def authenticate_user(self, authorization_code: Code) -> Any:
        return authorization_code.row.user_id


class RotatingRefreshGrant(RefreshTokenGrant):
    """Each refresh token works once and is replaced; presenting a used one again (a stolen
    copy, or the app's own bug) revokes the whole grant."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def unit(self) -> Unit:
        return self.server.unit

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        row = self.unit.token
        if row is None or row.token_hash != digest(refresh_token) \
                or row.kind != TokenKind.REFRESH:
            return None
        token = Token(row, self.unit.now)
        if not token.check_client(self.request.client):
            return None
        if token.is_revoked() or token.is_expired():
            return None
        if row.used_at is not None:
            self.unit.revoke_grants.add(row.grant_id)
            return None
        if not self.unit.backed(row.grant):
            self.unit.revoke_grants.add(row.grant_id)
            raise InvalidGrantError(NOT_BACKED)
        return token

    def authenticate_user(self, refresh_token: Token) -> Any:
        return refresh_token.row.grant_id

    def issue_token(self, user: Any, refresh_token: Token) -> dict[str, Any]:
        # The grant's scopes, always: a grant is one set of scopes (docs/oauth.md).
        return self.generate_token(user=user, scope=refresh_token.get_scope(),
                                   include_refresh_token=True)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        self.unit.spent_refresh = refresh_token.row


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        row = self.server.unit.token
        if row is None or row.token_hash != digest(token_string):
            return None
        return Token(row, self.server.unit.now)

    def revoke_token(self, token: Token, request: Any) -> None:
        self.server.unit.revoke_token = token.row


class Server(AuthorizationServer):
    """authlib's server for one request, over the request's `Unit`."""

    def __init__(self, unit: Unit) -> None:
        super().__init__(scopes_supported=SCOPES_SUPPORTED)
        self.unit = unit
        self.register_grant(CodeGrant, [S256Challenge(required=True)])
        self.register_grant(RotatingRefreshGrant)
        self.register_endpoint(Revocation)
        self.register_token_generator("default", self._generate_token)

    def query_client(self, client_id: str) -> Client | None:
        app = self.unit.apps.get(client_id)
        return Client(app) if app is not None else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.unit.issued.append(token)

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # already made by `oauth.starlette`

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: what a signal would announce is written by `Unit.apply`."""

    def _generate_token(self, *, grant_type: str, client: Client, user: Any = None,
                        scope: str | None = None, expires_in: int | None = None,
                        include_refresh_token: bool = True) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_secret(ACCESS_PREFIX),
            "expires_in": int(ACCESS_TTL.total_seconds()),
            "scope": scope or "",
        }
        if include_refresh_token:
            token["refresh_token"] = new_secret(REFRESH_PREFIX)
        return token


def metadata(settings: Settings) -> dict[str, Any]:
    """RFC 8414 authorization server metadata."""
    base = settings.public_url.rstrip("/")
    return dict(AuthorizationServerMetadata({
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "service_documentation": f"{base}/graphql",
    }))


def error_of(error: OAuth2Error) -> tuple[int, dict[str, str] | None, str | None]:
    """An authlib error as (status, JSON body, redirect location)."""
    status, body, headers = error()
    location = dict(headers).get("Location")
    return status, (dict(body) if location is None else None), location
