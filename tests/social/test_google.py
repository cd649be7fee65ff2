"""Sign in with Google (OpenID Connect) against the fake provider, through authlib's client:
sign-up, returning sign-in, and every way the flow is refused (state, denial, id token)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner
from structlog.testing import capture_logs

from core.settings import Settings
from models.accounts import Session, User
from models.social import SocialIdentity, SocialLinkRequest
from server import create_app
from tests.conftest import Api
from tests.social.conftest import APP_URL, Browser
from tests.social.fake_provider import FakeProvider
from web.social import STATE_TTL, _state_key

ME = "{ me { email name emailVerified linkedIdentities { provider email linkedAt lastUsedAt } } }"
STATE_COOKIE = "relleks_social"


async def me_by_cookie(browser: Browser) -> dict[str, Any]:
    response = await browser.app.post("/graphql", json={"query": ME})
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["me"]


async def nothing_signed_in() -> None:
    assert await User.all().count() == 0
    assert await Session.all().count() == 0
    assert await SocialIdentity.all().count() == 0


async def test_new_user_signs_up(browser: Browser, provider: FakeProvider) -> None:
    landing = await browser.sign_in("google")
    assert landing.url.startswith(APP_URL + "?")
    assert landing.query == {"social": "sign_up_required", "provider": "google"}
    assert landing.fragment["email"] == "grace@example.com"
    assert landing.fragment["name"] == "Grace Hopper"
    await nothing_signed_in()  # until the age and the terms are confirmed
    body = await browser.complete(landing)
    assert body["data"]["completeSocialSignUp"]["user"] == {"email": "grace@example.com"}
    # The authorization request carried PKCE (S256) and a nonce (the fake checked the verifier).
    (asked,) = provider.authorize_requests
    assert asked["code_challenge_method"] == "S256" and asked["nonce"]
    assert asked["redirect_uri"] == "http://testserver/auth/google/callback"
    assert set(asked["scope"].split()) == {"openid", "email", "profile"}
    user = await User.get(email="grace@example.com")
    assert user.password_hash is None and user.email_verified and user.name == "Grace Hopper"
    identity = await SocialIdentity.get(user_id=user.id)
    assert (identity.provider, identity.subject) == ("google", "g-1001")
    assert await Session.filter(user_id=user.id).count() == 1
    # Signed in with the same cookies as `logIn(useCookies: true)`.
    assert browser.cookie("relleks_access") and browser.cookie("relleks_csrf")
    me = await me_by_cookie(browser)
    assert me["email"] == "grace@example.com"
    assert [(i["provider"], i["email"]) for i in me["linkedIdentities"]] == \
        [("GOOGLE", "grace@example.com")]
    # The flow's state cookie is spent.
    assert browser.cookie(STATE_COOKIE) is None


async def test_returning_user_signs_in(browser: Browser, provider: FakeProvider) -> None:
    await browser.sign_up("google")
    browser.app.cookies.clear()
    provider.google_user["email"] = "grace.hopper@example.com"  # the email may change
    landing = await browser.sign_in("google")
    assert landing.query == {"social": "signed_in", "provider": "google"}
    user = await User.get()
    assert user.email == "grace@example.com"
    assert await Session.filter(user_id=user.id).count() == 2
    identity = await SocialIdentity.get(user_id=user.id)
    assert identity.email == "grace.hopper@example.com" and identity.last_used_at is not None
    assert (await me_by_cookie(browser))["email"] == "grace@example.com"


async def test_redirect_must_be_an_allowed_app_url(browser: Browser) -> None:
    for bad in ("https://evil.example/", "//evil.example/", "javascript:alert(1)",
                "http://user@testserver/app"):
        response = await browser.start("google", bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["reason"] == "REDIRECT_NOT_ALLOWED"
    # An ALLOWED_ORIGINS origin is fine, and no redirect means PUBLIC_URL.
    assert (await browser.start("google", "http://localhost:3000/in")).status_code == 302
    landing = await browser.sign_in("google", redirect=None)
    assert landing.url.startswith("http://testserver/?social=sign_up_required")


async def test_unreachable_discovery_document(settings: Settings) -> None:
    broken = replace(settings, google_discovery_url=settings.google_discovery_url + "-gone")
    app = create_app(broken, manage_database=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        with capture_logs() as logs:
            response = await client.get("/auth/google/start", params={"redirect": APP_URL})
    assert response.status_code == 303
    assert response.headers["location"] == \
        f"{APP_URL}?social_error=provider_error&provider=google"
    assert any(e["event"] == "social.sign_in_failed" for e in logs)


async def test_unknown_provider_is_not_found(browser: Browser) -> None:
    assert (await browser.app.get("/auth/myspace/start")).status_code == 404
    assert (await browser.app.get("/auth/myspace/callback?code=x&state=y")).status_code == 404


async def test_missing_or_forged_state_is_refused(browser: Browser) -> None:
    start = await browser.start("google")
    back = await browser.authorize(start)
    with capture_logs() as logs:
        for url in (back.split("&state=")[0], back.replace("state=", "state=forged")):
            landing = await browser.callback(url)
            assert landing.query == {"social_error": "state_invalid", "provider": "google"}
    assert [e["error"] for e in logs if e["event"] == "social.sign_in_failed"] == \
        ["state_invalid", "state_invalid"]
    await nothing_signed_in()


async def test_state_is_bound_to_the_browser_that_started(
        browser: Browser, app: Any, provider: FakeProvider) -> None:
    """Login CSRF: a callback URL from someone else's flow signs no one in."""
    back = await browser.authorize(await browser.start("google"))
    transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 50200))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        victim = Browser(other, browser.web)
        landing = await victim.callback(back)
    assert landing.query["social_error"] == "state_invalid"
    # ... and the state works once: replaying the callback is refused.
    assert (await browser.callback(back)).query["social"] == "sign_up_required"
    assert (await browser.callback(back)).query["social_error"] == "state_invalid"
    assert await User.all().count() == 0


async def test_expired_state_is_refused(browser: Browser, settings: Settings) -> None:
    back = await browser.authorize(await browser.start("google"))
    # The same state cookie, signed as if issued longer ago than STATE_TTL.
    (cookie,) = [c for c in browser.app.cookies.jar if c.name == STATE_COOKIE]
    payload = cookie.value.rsplit(".", 2)[0]

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - STATE_TTL - 5

    old = Earlier(_state_key(settings)).sign(payload).decode()
    browser.app.cookies.set(STATE_COOKIE, old, domain=cookie.domain, path=cookie.path)
    with capture_logs() as logs:
        landing = await browser.callback(back)
    assert landing.query["social_error"] == "state_invalid"
    assert any(e.get("error") == "state_invalid" for e in logs)
    await nothing_signed_in()
    # The payload itself is good: signed now, the same cookie finishes the flow.
    browser.app.cookies.set(STATE_COOKIE, TimestampSigner(_state_key(settings)).sign(
        payload).decode(), domain=cookie.domain, path=cookie.path)
    assert (await browser.callback(back)).query["social"] == "sign_up_required"


async def test_provider_denial(browser: Browser, provider: FakeProvider) -> None:
    provider.deny = True
    with capture_logs() as logs:
        landing = await browser.sign_in("google")
    assert landing.url.startswith(APP_URL + "?")
    assert landing.query == {"social_error": "access_denied", "provider": "google"}
    assert any(e["event"] == "social.sign_in_failed" and e["error"] == "access_denied"
               for e in logs)
    await nothing_signed_in()


@pytest.mark.parametrize("tamper", ["signature", "nonce", "audience", "missing"])
async def test_bad_id_token_is_refused(browser: Browser, provider: FakeProvider,
                                       tamper: str) -> None:
    provider.tamper = tamper
    with capture_logs() as logs:
        landing = await browser.sign_in("google")
    assert landing.query == {"social_error": "provider_error", "provider": "google"}
    (failure,) = [e for e in logs if e["event"] == "social.sign_in_failed"]
    assert failure["reason"]  # why goes to the log; the person sees only the code
    assert "Traceback" not in landing.url
    await nothing_signed_in()


async def test_unverified_email_is_refused(browser: Browser, provider: FakeProvider,
                                           api: Api) -> None:
    provider.google_user["email_verified"] = False
    landing = await browser.sign_in("google")
    assert landing.query == {"social_error": "email_unverified", "provider": "google"}
    await nothing_signed_in()
    # Nor is it ever linked to the account that uses the address.
    await api.sign_up(email="grace@example.com", name="Grace H")
    landing = await browser.sign_in("google")
    assert landing.query["social_error"] == "email_unverified"
    assert await SocialIdentity.all().count() == 0
    assert await SocialLinkRequest.all().count() == 0


async def test_disabled_provider(settings: Settings, browser: Browser) -> None:
    plain = replace(settings, github_client_id=None, github_client_secret=None)
    app = create_app(plain, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        body = (await client.post("/graphql", json={
            "query": "{ socialProviders { name label enabled startUrl } }"})).json()
        assert body["data"]["socialProviders"] == [
            {"name": "GOOGLE", "label": "Google", "enabled": True,
             "startUrl": "http://testserver/auth/google/start"},
            {"name": "GITHUB", "label": "GitHub", "enabled": False, "startUrl": None},
        ]
        response = await client.get("/auth/github/start", params={"redirect": APP_URL})
        assert response.status_code == 303
        assert response.headers["location"] == \
            f"{APP_URL}?social_error=provider_disabled&provider=github"


async def test_a_second_identity_at_the_same_provider_is_refused(
        browser: Browser, provider: FakeProvider) -> None:
    await browser.sign_up("google")
    browser.app.cookies.clear()
    provider.google_user["sub"] = "g-2002"  # another Google account, same address
    landing = await browser.sign_in("google")
    assert landing.query == {"social_error": "identity_conflict", "provider": "google"}
    assert [i.subject for i in await SocialIdentity.all()] == ["g-1001"]
    assert await SocialLinkRequest.all().count() == 0
