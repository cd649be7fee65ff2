"""Who is calling: the `Authorization: Bearer` header or, for browsers, the session cookie.

A credential that is present but bad (forged, expired, revoked session) does not fail the request
by itself: public fields still answer, and any field that needs a viewer reports why with
UNAUTHENTICATED. Checking the session row on every request is what makes `logOut` immediate.

An organization API token (`rlk_pat_...`, see `auth/api_tokens.py`) is recognised by its prefix;
a mistyped one fails its checksum before any database lookup, and a revoked or expired one is
refused like an ended session. A partner app's OAuth access token (`rlk_oat_...`, see
`auth/oauth_credentials.py`) is recognised the same way and acts through its grant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import HTTPConnection
from strawberry.http.websocket_origin import is_same_origin

from auth.api_tokens import hash_api_token, is_well_formed, looks_like_api_token
from auth.cookies import CookieNames
from auth.oauth_credentials import ACCESS_PREFIX, digest
from auth.oauth_credentials import is_well_formed as is_well_formed_oauth
from auth.tokens import InvalidToken, TokenExpired, decode_access_token
from auth.viewer import Viewer
from core.settings import Settings
from database.rows import joined
from models.accounts import Session
from models.oauth import OAuthGrant, OAuthToken, TokenKind
from models.tenancy import system_scope
from models.tokens import ApiToken

TOUCH_EVERY = timedelta(minutes=1)
RECHECK = "a long-lived connection re-reads its credential"


async def authenticate(request: HTTPConnection, settings: Settings) -> Viewer:
    header = request.headers.get("authorization")
    via_cookie = False
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Viewer(error="Use the header `Authorization: Bearer <access token>`.")
        token = token.strip()
        if looks_like_api_token(token):
            client = request.client.host if request.client else "unknown"
            return await viewer_for_api_token(token, client)
        if token.startswith(ACCESS_PREFIX):
            return await viewer_for_oauth_token(token)
    else:
        token = request.cookies.get(CookieNames.for_settings(settings).access, "")
        via_cookie = True
    if not token:
        return Viewer()
    return await viewer_for_token(token, settings, via_cookie=via_cookie)


async def viewer_for_token(token: str, settings: Settings, *, via_cookie: bool = False) -> Viewer:
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as exc:
        return Viewer(error=str(exc), via_cookie=via_cookie,
                      refresh=isinstance(exc, TokenExpired))
    now = datetime.now(UTC)
    found = await joined(Session, "user", {"id": claims.session_id, "user_id": claims.user_id})
    session = found[0] if found else None
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        return Viewer(error="The session has ended: sign in again.", via_cookie=via_cookie)
    if now - session.last_used_at > TOUCH_EVERY:
        session.last_used_at = now
        await Session.filter(id=session.id).update(last_used_at=now)
    return Viewer(user=session.user, session=session, via_cookie=via_cookie,
                  expires_at=min(claims.expires_at, session.expires_at))


async def viewer_for_api_token(secret: str, client_ip: str) -> Viewer:
    """The token's viewer, or why there is none. One query for a live token (its creator
    joined in), plus an update of its last use at most once a minute or when the IP changes."""
    if not is_well_formed(secret):
        return Viewer(error="The API token is malformed (its checksum does not match): "
                            "copy it again, whole.")
    token = await ApiToken.by_hash(hash_api_token(secret)).select_related("created_by").first()
    now = datetime.now(UTC)
    if token is None or token.revoked_at is not None:
        return Viewer(error="The API token is invalid or has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        return Viewer(error="The API token has expired: create a new one.")
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY \
            or token.last_used_ip != client_ip:
        token.last_used_at, token.last_used_ip = now, client_ip
        await ApiToken.touch(token.id, at=now, ip=client_ip)
    return Viewer(token=token, expires_at=token.expires_at)


async def viewer_for_oauth_token(secret: str) -> Viewer:
    """The viewer of a partner app's access token: its grant (app and approver joined in), or
    why there is none. A revoked grant ends its tokens at once. The grant's last use is
    recorded at most once a minute."""
    if not is_well_formed_oauth(secret, ACCESS_PREFIX):
        return Viewer(error="The access token is malformed (its checksum does not match).")
    token = await OAuthToken.by_hash(digest(secret)).filter(kind=TokenKind.ACCESS) \
        .select_related("grant__app", "grant__created_by").first()
    now = datetime.now(UTC)
    if token is None or token.revoked_at is not None or token.grant.revoked_at is not None:
        return Viewer(error="The access token is invalid or has been revoked.")
    if token.expires_at <= now:
        return Viewer(error="The access token has expired: use the refresh token.",
                      refresh=True)
    grant = token.grant
    if grant.last_used_at is None or now - grant.last_used_at > TOUCH_EVERY:
        grant.last_used_at = now
        await OAuthGrant.by_id(grant.id).update(last_used_at=now)
    return Viewer(grant=grant, oauth_token_id=token.id, expires_at=token.expires_at)
async def authenticate_connection(params: dict[str, object], connection: HTTPConnection,
                                  settings: Settings) -> Viewer:
    """The viewer of a WebSocket connection, from the `connection_init` payload.

    The payload carries the credential as `{"Authorization": "Bearer <token>"}` (what GraphiQL
    sends from its headers editor) or `{"token": "<token>"}`: an access token or an API token.
    Without one, the session cookie counts only when the page's `Origin` is one of
    `ALLOWED_ORIGINS` or this server's own origin (its GraphiQL page): browsers send cookies
    with any page's WebSocket, so the origin is what stops another site from subscribing as the
    visitor."""
    header = next((value for key, value in params.items()
                   if key.lower() == "authorization" and isinstance(value, str)), None)
    token = params.get("token")
    if header is not None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return Viewer(error="Send `{\"Authorization\": \"Bearer <token>\"}` in "
                                "connection_init.")
        token = credential.strip()
    if isinstance(token, str) and token:
        if looks_like_api_token(token):
            client = connection.client.host if connection.client else "unknown"
            return await viewer_for_api_token(token, client)
        if token.startswith(ACCESS_PREFIX):
            return await viewer_for_oauth_token(token)
        return await viewer_for_token(token, settings)
    cookie = connection.cookies.get(CookieNames.for_settings(settings).access, "")
    if not cookie:
        return Viewer(error="Sign in: send an access or API token in connection_init.")
    origin = connection.headers.get("origin")
    # This server's own page (GraphiQL, same origin) counts as allowed.
    if origin not in settings.allowed_origins and not (
            origin and is_same_origin(origin, connection.headers.get("host"))):
        return Viewer(error="Session cookies are accepted only from the allowed origins: "
                            "send a token in connection_init.")
    return await viewer_for_token(cookie, settings, via_cookie=True)


async def recheck_viewer(viewer: Viewer) -> Viewer:
    """The same viewer re-read from the database: what a long-lived connection calls before
    each operation and event, so an ended session, a revoked or expired token, or a revoked
    grant stops it at once. One query."""
    now = datetime.now(UTC)
    if viewer.expires_at is not None and viewer.expires_at <= now:
        if viewer.token is not None:
            return Viewer(error="The API token has expired: create a new one.")
        return Viewer(error="The access token has expired: refresh it and connect again.",
                      via_cookie=viewer.via_cookie, refresh=True)
    if viewer.token is not None:
        token = await system_scope(viewer.token.organization_id, reason=RECHECK) \
            .scoped(ApiToken).filter(id=viewer.token.id).select_related("created_by").first()
        return token_viewer(token, now)
    if viewer.grant is not None:
        return await _recheck_grant(viewer, now)
    if viewer.session is not None:
        session = await Session.filter(
            id=viewer.session.id, revoked_at__isnull=True, expires_at__gt=now
        ).select_related("user").first()
        return session_viewer(session, via_cookie=viewer.via_cookie,
                              expires_at=viewer.expires_at)
    return viewer


async def _recheck_grant(viewer: Viewer, now: datetime) -> Viewer:
    """A partner app's viewer as now: its access token (when one was presented) and grant."""
    assert viewer.grant is not None
    if viewer.oauth_token_id is None:
        grant = await OAuthGrant.by_id(viewer.grant.id).select_related(
            "app", "created_by").first()
    else:
        token = await system_scope(viewer.grant.organization_id, reason=RECHECK) \
            .scoped(OAuthToken).filter(id=viewer.oauth_token_id) \
            .select_related("grant__app", "grant__created_by").first()
        if token is None or token.revoked_at is not None:
            return Viewer(error="The access token has been revoked.")
        grant = token.grant
    if grant is None or grant.revoked_at is not None:
        return Viewer(error="The partner app's authorization has been revoked.")
    return Viewer(grant=grant, oauth_token_id=viewer.oauth_token_id,
                  expires_at=viewer.expires_at)


def token_viewer(token: ApiToken | None, now: datetime) -> Viewer:
    """The viewer of a token row as just read (its creator joined), or why there is none."""
    if token is None or token.revoked_at is not None:
        return Viewer(error="The API token has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        return Viewer(error="The API token has expired.")
    return Viewer(token=token, expires_at=token.expires_at)


def session_viewer(session: Session | None, *, via_cookie: bool = False,
                   expires_at: datetime | None = None) -> Viewer:
    """The viewer of a live session row as just read (its user joined), or why there is none;
    `expires_at` is the presented access token's expiry, kept from the first reading."""
    if session is None:
        return Viewer(error="The session has ended: sign in again.", via_cookie=via_cookie)
    return Viewer(user=session.user, session=session, via_cookie=via_cookie,
                  expires_at=expires_at)
