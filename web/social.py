"""`GET /auth/{provider}/start` and `GET /auth/{provider}/callback`: the browser's side of
social sign-in.

`start?redirect=<app URL>` sends the browser to the provider. The flow's state, PKCE verifier,
nonce and the app URL to return to live in a signed cookie scoped to `/auth` that lasts
`STATE_TTL` (Starlette's SessionMiddleware, keyed from SECRET_KEY): only the browser that started
a flow can finish it, and only for a while. `redirect` must be on `PUBLIC_URL`'s origin or one of
`ALLOWED_ORIGINS`, so the endpoint is no open redirect.

The callback always ends with a redirect to the app URL: `?social=signed_in` (the session
cookies are set, as `logIn(input: {..., useCookies: true})` sets them),
`?social=sign_up_required` with the pending sign-up's token, email and name in the fragment
(`#sign_up_token=...&email=...&name=...`: nothing is created until `completeSocialSignUp` with
the age confirmation and the terms), `?social=link_required` with the token for
`confirmSocialLink` and the account's email in the fragment (`#link_token=...&email=...`; a
fragment reaches neither a server log nor a Referer), or `?social_error=<code>`. A failure is
logged with its reason and the request id; the person sees only the code.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode, urlsplit

import structlog
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from auth.social import ProviderError
from auth.viewer import Viewer
from core.settings import Settings
from engine.context import Context
from models.social import SocialProvider
from resolvers.social import Outcome, SignInRefused, sign_in_with
from services import Services

STATE_TTL = 10 * 60
RETURN_KEY = "relleks_return_{provider}"

log = structlog.get_logger("relleks.social")


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username \
            or parts.password:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_redirect(settings: Settings, url: str | None) -> str | None:
    """`url` when the app may be sent back there, the default (`PUBLIC_URL/`) when it is
    absent, None when it points anywhere else."""
    if not url:
        return settings.public_url.rstrip("/") + "/"
    origin = _origin(url)
    allowed = {_origin(o) for o in (settings.public_url, *settings.allowed_origins)}
    return url if origin is not None and origin in allowed else None


def _with_result(url: str, params: dict[str, str], fragment: dict[str, str] | None = None) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    new = parts._replace(query=query, fragment=urlencode(fragment) if fragment else "")
    return new.geturl()


def _provider(request: Request) -> SocialProvider | None:
    try:
        return SocialProvider(request.path_params["provider"])
    except ValueError:
        return None


def _request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "-")


def _not_found() -> JSONResponse:
    return JSONResponse({"error": {"reason": "NOT_FOUND", "message": "No such provider."}},
                        status_code=404)


def _nul_refused(request: Request) -> JSONResponse | None:
    """A 400 when a query parameter holds NUL (U+0000): no redirect URL, state or code does,
    and it would reach the session, the provider or a Location header."""
    if any("\x00" in text for pair in request.query_params.multi_items() for text in pair):
        return JSONResponse({"error": {
            "reason": "NUL_CHARACTER",
            "message": "Parameters may not contain the NUL character (U+0000)."}},
            status_code=400)
    return None


def _refuse(request: Request, target: str, provider: SocialProvider, code: str,
            reason: str) -> Response:
    log.warning("social.sign_in_failed", provider=provider.value, error=code, reason=reason,
                request_id=_request_id(request), ip=request.client.host if request.client else None)
    return RedirectResponse(_with_result(target, {"social_error": code,
                                                  "provider": provider.value}), status_code=303)


async def start(request: Request) -> Response:
    services: Services = request.app.state.services
    provider = _provider(request)
    if provider is None:
        return _not_found()
    if (refused := _nul_refused(request)) is not None:
        return refused
    target = allowed_redirect(services.settings, request.query_params.get("redirect"))
    if target is None:
        return JSONResponse({"error": {
            "reason": "REDIRECT_NOT_ALLOWED",
            "message": "`redirect` must be on PUBLIC_URL or one of ALLOWED_ORIGINS."}},
            status_code=400)
    social = services.social
    if not social.enabled(provider):
        return _refuse(request, target, provider, "provider_disabled", "no credentials")
    client = social.client(provider)
    callback = social.callback_url(provider)
    try:
        found = await client.create_authorization_url(callback)
    except Exception as exc:  # the discovery document could not be read
        return _refuse(request, target, provider, "provider_error",
                       f"{type(exc).__name__}: {str(exc)[:200]}")
    await client.save_authorize_data(request, redirect_uri=callback, **found)
    request.session[RETURN_KEY.format(provider=provider.value)] = target
    return RedirectResponse(found["url"], status_code=302)


async def callback(request: Request) -> Response:
    services: Services = request.app.state.services
    social = services.social
    provider = _provider(request)
    if provider is None:
        return _not_found()
    if (refused := _nul_refused(request)) is not None:
        return refused
    target = request.session.pop(RETURN_KEY.format(provider=provider.value), None) \
        or allowed_redirect(services.settings, None)
    assert target is not None
    if not social.enabled(provider):
        return _refuse(request, target, provider, "provider_disabled", "no credentials")
    client = social.client(provider)
    state = request.query_params.get("state")
    if not state or not await client.framework.get_state_data(request.session, state):
        # Missing, forged, from another browser, already used or expired (the cookie is gone).
        return _refuse(request, target, provider, "state_invalid", "state not in this session")
    if error := request.query_params.get("error"):
        await client.framework.clear_state_data(request.session, state)
        code = "access_denied" if error == "access_denied" else "provider_error"
        return _refuse(request, target, provider, code,
                       f"provider error {error[:64]}: "
                       f"{request.query_params.get('error_description', '')[:200]}")
    try:
        identity = await social.identity(provider, request)
    except ProviderError as exc:
        return _refuse(request, target, provider, "provider_error", exc.reason)
    response = RedirectResponse(target, status_code=303)
    ctx = Context(request=request, response=response, services=services,
                  request_id=_request_id(request), viewer=Viewer())
    try:
        result = await sign_in_with(ctx, identity)
    except SignInRefused as exc:
        return _refuse(request, target, provider, exc.code, exc.reason)
    params = {"social": result.outcome.value, "provider": provider.value}
    fragment = None
    if result.outcome is Outcome.LINK_REQUIRED and result.user is not None:
        fragment = {"link_token": result.link_token or "", "email": result.user.email}
    elif result.outcome is Outcome.SIGN_UP_REQUIRED and result.sign_up is not None:
        fragment = {"sign_up_token": result.sign_up_token or "", "email": result.sign_up.email,
                    "name": result.sign_up.name}
    response.headers["location"] = _with_result(target, params, fragment)
    log.info("social.sign_in", provider=provider.value, outcome=result.outcome.value,
             user_id=str(result.user.id) if result.user else None, request_id=ctx.request_id)
    return response


def _state_key(settings: Settings) -> str:
    # A key of its own, derived from SECRET_KEY, as for JWTs (`auth/tokens.py`).
    return hmac.new(settings.secret_key.encode(), b"relleks:social:state",
                    hashlib.sha256).hexdigest()


def social_routes(settings: Settings) -> Mount:
    """The `/auth` routes with the signed state cookie, which no other path ever sees."""
    return Mount("/auth", routes=[
        Route("/{provider}/start", start, methods=["GET"]),
        Route("/{provider}/callback", callback, methods=["GET"]),
    ], middleware=[Middleware(
        SessionMiddleware, secret_key=_state_key(settings),
        session_cookie=("__Secure-" if settings.cookie_secure else "") + "relleks_social",
        max_age=STATE_TTL, path="/auth", same_site="lax", https_only=settings.cookie_secure,
    )])
