"""Session cookies for browser clients, and the CSRF check that goes with them.

Cookies are `HttpOnly; SameSite=Lax` and, when `COOKIE_SECURE` is on (always in production),
`Secure` with the `__Host-` prefix, which pins them to this exact host and path `/`. `make run` on
plain http cannot set Secure cookies, so there they carry the bare names below.

CSRF uses the double-submit pattern: a readable `csrf` cookie is set with the session, and every
mutation authenticated by cookie must repeat its value in the `X-CSRF-Token` header. A cross-site
form can neither read the cookie nor set a header, so it cannot perform a mutation. A mutation in
a body a form can send (multipart, used for uploads) needs the header even without cookies, so a
form cannot sign a browser in to the sender's account either (login CSRF); the header forces a
CORS preflight, which only the allowed origins pass.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Literal, TypedDict

from starlette.requests import HTTPConnection
from starlette.responses import Response

from core.settings import Settings

CSRF_HEADER = "x-csrf-token"
# The bodies an HTML form can send cross-site without a preflight.
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data",
                                "text/plain"})


@dataclass(frozen=True)
class CookieNames:
    access: str
    refresh: str
    csrf: str

    @classmethod
    def for_settings(cls, settings: Settings) -> CookieNames:
        prefix = "__Host-" if settings.cookie_secure else ""
        return cls(access=f"{prefix}relleks_access", refresh=f"{prefix}relleks_refresh",
                   csrf=f"{prefix}relleks_csrf")


class _CookieOptions(TypedDict):
    path: str
    secure: bool
    samesite: Literal["lax", "strict", "none"]


def set_session_cookies(response: Response, settings: Settings, *, access_token: str,
                        refresh_token: str) -> None:
    names = CookieNames.for_settings(settings)
    common: _CookieOptions = {"path": "/", "secure": settings.cookie_secure, "samesite": "lax"}
    response.set_cookie(names.access, access_token, max_age=settings.access_token_ttl,
                        httponly=True, **common)
    response.set_cookie(names.refresh, refresh_token, max_age=settings.refresh_token_ttl,
                        httponly=True, **common)
    response.set_cookie(names.csrf, secrets.token_urlsafe(24), max_age=settings.refresh_token_ttl,
                        httponly=False, **common)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    names = CookieNames.for_settings(settings)
    for name in (names.access, names.refresh, names.csrf):
        response.delete_cookie(name, path="/", secure=settings.cookie_secure, httponly=True,
                               samesite="lax")


def has_session_cookie(request: HTTPConnection, settings: Settings) -> bool:
    names = CookieNames.for_settings(settings)
    return names.access in request.cookies or names.refresh in request.cookies


def csrf_ok(request: HTTPConnection, settings: Settings) -> bool:
    expected = request.cookies.get(CookieNames.for_settings(settings).csrf)
    given = request.headers.get(CSRF_HEADER)
    return bool(expected and given and hmac.compare_digest(expected, given))


def sent_as_form(request: HTTPConnection) -> bool:
    """Whether the body is of a kind an HTML form on any site could have sent."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in FORM_CONTENT_TYPES


def csrf_problem(request: HTTPConnection, settings: Settings) -> str | None:
    """Why a mutation in this request could be a cross-site forgery, or None when it cannot.

    An `Authorization` header cannot come from a form and forces a preflight, so it is proof
    enough; so is the CSRF header itself on a form-like body."""
    if request.headers.get("authorization"):
        return None
    if has_session_cookie(request, settings):
        if csrf_ok(request, settings):
            return None
        return ("Cookie-authenticated mutations need the `X-CSRF-Token` header, set to the value "
                "of the CSRF cookie.")
    if sent_as_form(request) and CSRF_HEADER not in request.headers:
        return ("Mutations sent as a form (multipart) need the `X-CSRF-Token` header (any value "
                "when you have no session cookie).")
    return None
