"""The OAuth endpoints, as plain Starlette routes (apps form-post to them: no GraphQL, so the
GraphQL CSRF guard never sees them; each is rate limited per IP).

- `GET /oauth/authorize`: validates the request (client, exact redirect URI, scope, PKCE S256)
  and sends the browser to the web app's consent page with the same parameters; the signed-in
  person approves there through GraphQL (`approveOAuthAuthorization`). An unknown client or a
  redirect URI that is not registered is answered here with a JSON 400, never a redirect; any
  other error goes back to the redirect URI with `error` and `state` (RFC 6749 4.1.2.1).
- `POST /oauth/token`: the authorization code and refresh token grants (RFC 6749 5.2 errors).
- `POST /oauth/revoke`: RFC 7009.
- `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from core.errors import RateLimited
from oauth.server import Server, Unit, error_of, metadata
from oauth.starlette import StarletteOAuth2Request, oauth_request, to_response
from realtime.credentials import announce_credentials_ended
from services import Services

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _services(request: Request) -> Services:
    return request.app.state.services


async def _limited(request: Request, endpoint: str) -> Response | None:
    """A 429 in RFC 6749's error shape when the IP spent its budget for this endpoint."""
    ip = request.client.host if request.client else "unknown"
    try:
        await _services(request).limiter.hit_oauth(endpoint=endpoint, ip=ip)
    except RateLimited as exc:
        retry = str(exc.extensions["retryAfter"]) if exc.extensions else "60"
        return JSONResponse({"error": "slow_down", "error_description": exc.message},
                            status_code=429, headers={"Retry-After": retry, **NO_STORE})
    return None


async def _read(request: Request) -> StarletteOAuth2Request | Response:
    """The authlib request, or a JSON 400 (never a redirect) for parameters holding NUL."""
    try:
        return await oauth_request(request)
    except InvalidRequestError as error:
        status, body, headers = error()
        return to_response(status, dict(body), [*headers, *NO_STORE.items()])


async def authorize(request: Request) -> Response:
    if (limited := await _limited(request, "authorize")) is not None:
        return limited
    oauth = await _read(request)
    if isinstance(oauth, Response):
        return oauth
    unit = await Unit.load(client_ids=[oauth.payload.client_id])
    try:
        Server(unit).get_consent_grant(oauth)
    except OAuth2Error as error:
        status, body, location = error_of(error)
        if location is not None:
            return RedirectResponse(location, status_code=302)
        return JSONResponse(body, status_code=status, headers=NO_STORE)
    consent = _services(request).settings.oauth_consent_url
    separator = "&" if "?" in consent else "?"
    return RedirectResponse(f"{consent}{separator}{urlencode(list(oauth.payload.data.items()))}",
                            status_code=302)


async def token(request: Request) -> Response:
    if (limited := await _limited(request, "token")) is not None:
        return limited
    oauth = await _read(request)
    if isinstance(oauth, Response):
        return oauth
    basic_id, _ = extract_basic_authorization(oauth.headers)
    form = oauth.form
    grant_type = form.get("grant_type")
    unit = await Unit.load(
        client_ids=[basic_id, form.get("client_id")],
        code=form.get("code") if grant_type == "authorization_code" else None,
        token=form.get("refresh_token") if grant_type == "refresh_token" else None)
    status, body, headers = Server(unit).create_token_response(oauth)
    if not await unit.apply():
        status, body, headers = InvalidGrantError("The code or refresh token was already used.")()
    await _announce_ended(request, unit)
    return to_response(status, body, [*headers, *NO_STORE.items()])


async def revoke(request: Request) -> Response:
    if (limited := await _limited(request, "revoke")) is not None:
        return limited
    oauth = await _read(request)
    if isinstance(oauth, Response):
        return oauth
    basic_id, _ = extract_basic_authorization(oauth.headers)
    unit = await Unit.load(client_ids=[basic_id, oauth.form.get("client_id")],
                           token=oauth.form.get("token"))
    response = Server(unit).create_endpoint_response("revocation", oauth)
    await unit.apply()
    await _announce_ended(request, unit)
    return to_response(*response)


async def _announce_ended(request: Request, unit: Unit) -> None:
    """Tokens or grants this request ended: the WebSockets open with them re-check at once."""
    row = unit.token or unit.code
    if row is not None and (unit.revoke_token is not None or unit.revoke_grants):
        await announce_credentials_ended(_services(request).broker, row.organization_id)


async def server_metadata(request: Request) -> Response:
    return JSONResponse(metadata(_services(request).settings),
                        headers={"Cache-Control": "public, max-age=3600"})
