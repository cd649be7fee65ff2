"""Browser sessions: HttpOnly cookies, the CSRF header, and what a cross-site form cannot do.

Every test runs twice: with `cookie_secure` on (production: `Secure` and the `__Host-` prefix,
served over https) and off (`make run` on plain http: bare names, no `Secure`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.accounts import RefreshToken, Session, User
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of, without_cost

LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { accessToken refreshToken expiresAt user { email } }
}"""
UPDATE_NAME = 'mutation { updateProfile(input: {name: "Mallory"}) { user { name } } }'


@pytest.fixture(params=[True, False], ids=["secure", "plain-http"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return replace(settings, cookie_secure=request.param)


@pytest.fixture
async def browser(app: Any, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar, on https when the cookies are Secure (as a browser would)."""
    scheme = "https" if settings.cookie_secure else "http"
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50001))
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://testserver") as client:
        yield client


def _names(settings: Settings) -> tuple[str, str, str]:
    prefix = "__Host-" if settings.cookie_secure else ""
    return f"{prefix}relleks_access", f"{prefix}relleks_refresh", f"{prefix}relleks_csrf"


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


async def _post(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
                **headers: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables},
                             headers=headers)


async def _log_in(api: Api, browser: httpx.AsyncClient) -> httpx.Response:
    await api.sign_up()
    response = await _post(browser, LOG_IN, {"input": {
        "email": "ada@example.com", "password": STRONG_PASSWORD, "useCookies": True}})
    assert response.status_code == 200
    return response


def _csrf(browser: httpx.AsyncClient, settings: Settings) -> str:
    value = browser.cookies.get(_names(settings)[2])
    assert value
    return value


async def test_log_in_with_cookies_sets_them_and_returns_no_tokens(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    response = await _log_in(api, browser)
    payload = response.json()["data"]["logIn"]
    assert payload["accessToken"] is None and payload["refreshToken"] is None
    assert payload["expiresAt"] and payload["user"] == {"email": "ada@example.com"}
    access, refresh, csrf = _names(settings)
    cookies = _set_cookies(response)
    assert set(cookies) == {access, refresh, csrf}
    for name, header in cookies.items():
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert "samesite=lax" in header.lower().replace(" ", "")
        assert "path=/" in header.lower().replace(" ", "")
        assert "domain" not in attributes  # `__Host-` forbids it, and nothing needs it
        assert ("secure" in attributes) == settings.cookie_secure
        assert ("httponly" in attributes) == (name != csrf), name
    # The refresh token is stored hashed, and the cookie holds the token itself.
    refresh_value = browser.cookies.get(refresh)
    assert refresh_value and refresh_value.startswith("rlk_rt_")
    assert await RefreshToken.all().count() == 2  # sign-up's session and this one


async def test_me_works_with_cookies_only(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    await _log_in(api, browser)
    response = await _post(browser, "{ me { email } sessions { nodes { current } } }")
    assert response.json()["data"]["me"] == {"email": "ada@example.com"}
    assert {"current": True} in response.json()["data"]["sessions"]["nodes"]
    # Over GET too (a query is safe without the CSRF header).
    response = await browser.get("/graphql", params={"query": "{ me { email } }"},
                                 headers={"accept": "application/json"})
    assert response.json()["data"]["me"] == {"email": "ada@example.com"}


async def test_cookie_mutation_without_csrf_header_is_forbidden(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    await _log_in(api, browser)
    sessions = await Session.filter(revoked_at__isnull=True).count()
    for query in (UPDATE_NAME, "mutation { logOut { endedSessionId } }",
                  "mutation { logOutEverywhere { endedSessions } }",
                  "mutation { refreshSession(input: {}) { expiresAt } }"):
        response = await _post(browser, query)
        body = response.json()
        assert not body.get("data"), query
        error = errors_of(body)[0]
        assert error["extensions"] == {"code": "FORBIDDEN", "reason": "CSRF"}, query
        assert "X-CSRF-Token" in error["message"]
        assert "set-cookie" not in response.headers
    # A wrong or empty header is no better.
    for value in ("wrong", ""):
        response = await _post(browser, UPDATE_NAME, **{"x-csrf-token": value})
        assert error_code(response.json()) == "FORBIDDEN"
    assert (await User.get(email="ada@example.com")).name == "Ada Lovelace"
    assert await Session.filter(revoked_at__isnull=True).count() == sessions
    assert await RefreshToken.filter(used_at__isnull=False).count() == 0


async def test_cookie_mutation_with_matching_csrf_header_works(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    await _log_in(api, browser)
    response = await _post(browser, UPDATE_NAME, **{"x-csrf-token": _csrf(browser, settings)})
    assert without_cost(response.json()) == {
        "data": {"updateProfile": {"user": {"name": "Mallory"}}}}
    assert (await User.get(email="ada@example.com")).name == "Mallory"


async def test_csrf_value_from_another_session_does_not_work(
    api: Api, app: Any, browser: httpx.AsyncClient, settings: Settings
) -> None:
    await _log_in(api, browser)
    scheme = "https" if settings.cookie_secure else "http"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=f"{scheme}://testserver") as attacker:
        await _post(attacker, LOG_IN, {"input": {"email": "ada@example.com",
                                                 "password": STRONG_PASSWORD,
                                                 "useCookies": True}})
        other_csrf = _csrf(attacker, settings)
    assert other_csrf != _csrf(browser, settings)
    response = await _post(browser, UPDATE_NAME, **{"x-csrf-token": other_csrf})
    assert error_code(response.json()) == "FORBIDDEN"
    assert (await User.get(email="ada@example.com")).name == "Ada Lovelace"


async def test_cross_site_form_posts_cannot_mutate(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    """An HTML form can send urlencoded, multipart or text/plain bodies with the victim's
    cookies, but no custom header: none of these may run a mutation."""
    await _log_in(api, browser)
    operations = json.dumps({"query": UPDATE_NAME})
    attempts = [
        browser.post("/graphql", data={"query": UPDATE_NAME}),
        browser.post("/graphql", data={"operations": operations, "map": "{}"},
                     files={"unused": ("x.txt", b"x", "text/plain")}),
        browser.post("/graphql", content=operations.encode(),
                     headers={"content-type": "text/plain"}),
        browser.post("/graphql", files={"operations": (None, operations), "map": (None, "{}")}),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code < 500
        body = response.json()
        assert not body.get("data"), body
        assert errors_of(body)[0]["extensions"]["code"] in {"FORBIDDEN", "BAD_USER_INPUT"}
    assert (await User.get(email="ada@example.com")).name == "Ada Lovelace"


async def test_cross_site_form_cannot_log_the_victim_in(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    """Login CSRF: a form posting the attacker's credentials must not plant session cookies,
    even in a browser that has none yet."""
    await api.sign_up(email="mallory@example.com", name="Mallory Evil")
    sessions = await Session.all().count()
    operations = json.dumps({"query": LOG_IN, "variables": {"input": {
        "email": "mallory@example.com", "password": STRONG_PASSWORD, "useCookies": True}}})
    response = await browser.post("/graphql", files={"operations": (None, operations),
                                                     "map": (None, "{}")})
    assert response.status_code < 500
    assert error_code(response.json()) in {"FORBIDDEN", "BAD_USER_INPUT"}
    assert "set-cookie" not in response.headers
    assert await Session.all().count() == sessions
    # The same request with the header (so only from an allowed origin, after a preflight) works.
    response = await browser.post("/graphql", files={"operations": (None, operations),
                                                     "map": (None, "{}")},
                                  headers={"x-csrf-token": "1"})
    assert response.json()["data"]["logIn"]["user"] == {"email": "mallory@example.com"}


async def test_bearer_mutations_need_no_csrf_header(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    """The Authorization header is itself proof of a non-form request (it forces a preflight)."""
    await _log_in(api, browser)
    token = (await api.gql(LOG_IN, {"input": {"email": "ada@example.com",
                                               "password": STRONG_PASSWORD}})
             )["data"]["logIn"]["accessToken"]
    response = await _post(browser, UPDATE_NAME, authorization=f"Bearer {token}")
    assert without_cost(response.json()) == {
        "data": {"updateProfile": {"user": {"name": "Mallory"}}}}


async def test_refresh_session_via_cookie(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    await _log_in(api, browser)
    access, refresh, csrf = _names(settings)
    old_refresh = browser.cookies.get(refresh)
    old_access = browser.cookies.get(access)
    response = await _post(browser, "mutation { refreshSession(input: {}) { accessToken "
                                    "refreshToken expiresAt user { email } } }",
                           **{"x-csrf-token": _csrf(browser, settings)})
    payload = response.json()["data"]["refreshSession"]
    assert payload["accessToken"] is None and payload["refreshToken"] is None
    assert payload["user"] == {"email": "ada@example.com"}
    assert set(_set_cookies(response)) == {access, refresh, csrf}
    assert browser.cookies.get(refresh) not in (None, old_refresh)
    assert browser.cookies.get(access) not in (None, old_access)
    assert (await _post(browser, "{ me { email } }")).json()["data"]["me"]
    # The old refresh cookie, replayed, ends the session and clears the cookies.
    assert old_refresh
    response = await _post(browser, "mutation { refreshSession(input: {}) { expiresAt } }",
                           cookie=f"{refresh}={old_refresh}; {csrf}=c", **{"x-csrf-token": "c"})
    assert errors_of(response.json())[0]["extensions"]["reason"] == "REFRESH_TOKEN_REUSED"
    cleared = _set_cookies(response)
    assert set(cleared) == {access, refresh, csrf}
    assert all("max-age=0" in header.lower() for header in cleared.values())
    assert error_code((await _post(browser, "{ me { email } }")).json()) == "UNAUTHENTICATED"


async def test_log_out_via_cookie_ends_the_session_and_clears_cookies(
    api: Api, browser: httpx.AsyncClient, settings: Settings
) -> None:
    await _log_in(api, browser)
    access_value = browser.cookies.get(_names(settings)[0])
    response = await _post(browser, "mutation { logOut { endedSessionId } }",
                           **{"x-csrf-token": _csrf(browser, settings)})
    assert without_cost(response.json())["data"]["logOut"]["endedSessionId"]
    cleared = _set_cookies(response)
    assert set(cleared) == set(_names(settings))
    assert all("max-age=0" in header.lower() for header in cleared.values())
    assert not browser.cookies.get(_names(settings)[0])
    assert await Session.filter(revoked_at__isnull=False).count() == 1
    # A copy of the old cookie is useless now.
    response = await _post(browser, "{ me { email } }",
                           cookie=f"{_names(settings)[0]}={access_value}")
    assert error_code(response.json()) == "UNAUTHENTICATED"
