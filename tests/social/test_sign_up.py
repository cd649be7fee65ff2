"""Social sign-up asks what `signUp` asks before any account exists: the callback for a new
email creates nothing and hands the browser a signed pending sign-up token (15 minutes); only
`completeSocialSignUp` with the age confirmation and the terms makes the account, records the
acceptance like `confirmSignUp`, links the identity and signs in. The token works once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from auth.tokens import PendingSocialSignUp, issue_social_sign_up_token
from core.settings import Settings
from models.accounts import Session, User
from models.policies import PolicyAcceptance
from models.social import SocialIdentity
from server import create_app
from tests.conftest import Api, errors_of
from tests.social.conftest import COMPLETE_SIGN_UP, Browser


async def nothing_created() -> None:
    assert await User.all().count() == 0
    assert await SocialIdentity.all().count() == 0
    assert await Session.all().count() == 0
    assert await PolicyAcceptance.all().count() == 0


def fields_of(body: dict[str, Any]) -> dict[str, str]:
    (error,) = errors_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    fields: dict[str, str] = error["extensions"]["fields"]
    return fields


async def test_the_callback_creates_nothing_and_completing_makes_the_account(
        browser: Browser, settings: Settings) -> None:
    landing = await browser.sign_in("google")
    assert landing.query == {"social": "sign_up_required", "provider": "google"}
    assert browser.cookie("relleks_access") is None
    await nothing_created()
    body = await browser.complete(landing, termsVersion=settings.terms_version)
    assert "errors" not in body, body
    user = await User.get(email="grace@example.com")
    assert user.terms_version == settings.terms_version
    assert user.terms_accepted_at is not None and user.age_check_passed_at is not None
    (accepted,) = await PolicyAcceptance.filter(user_id=user.id)
    assert accepted.version == settings.terms_version
    assert await SocialIdentity.filter(user_id=user.id, subject="g-1001").exists()
    assert browser.cookie("relleks_access")  # signed in, with cookies as asked
    # From now on the provider signs Grace in directly.
    browser.app.cookies.clear()
    assert (await browser.sign_in("google")).query["social"] == "signed_in"


async def test_refused_without_the_terms_or_the_age(browser: Browser, settings: Settings) -> None:
    landing = await browser.sign_in("google")
    body = await browser.complete(landing, acceptTerms=False)
    assert set(fields_of(body)) == {"acceptTerms"}
    body = await browser.complete(landing, birthDate=f"{datetime.now(UTC).year - 10}-01-01")
    assert "at least 16" in fields_of(body)["birthDate"]
    body = await browser.complete(landing, birthDate="2999-01-01", acceptTerms=False)
    assert set(fields_of(body)) == {"birthDate", "acceptTerms"}
    body = await browser.complete(landing, termsVersion="1999-01-01")
    assert set(fields_of(body)) == {"termsVersion"}
    await nothing_created()
    # The same token still completes once the person confirms.
    assert "errors" not in await browser.complete(landing)


async def test_the_token_works_once(browser: Browser) -> None:
    landing = await browser.sign_in("google")
    assert "errors" not in await browser.complete(landing)
    browser.app.cookies.clear()  # replayed as someone else would, without the new session
    again = await browser.complete(landing)
    (error,) = errors_of(again)
    assert error["extensions"]["reason"] == "TOKEN_USED"
    assert await User.all().count() == 1 and await Session.all().count() == 1


async def test_an_expired_or_forged_token_is_refused(
        browser: Browser, api: Api, settings: Settings) -> None:
    pending = PendingSocialSignUp(provider="google", subject="g-1001",
                                  email="grace@example.com", name="Grace")
    old = issue_social_sign_up_token(settings, pending,
                                     now=datetime.now(UTC) - timedelta(minutes=16))
    other_key = replace(settings, secret_key="another-secret-key-" + "x" * 40)
    forged = issue_social_sign_up_token(other_key, pending)
    cases = {old: "TOKEN_EXPIRED", forged: "TOKEN_INVALID", "": "TOKEN_INVALID",
             "x" * 5000: "TOKEN_INVALID",
             # An access token is signed too, but with another key and of another type.
             (await api.sign_up(email="ada@example.com", name="Ada"))["accessToken"]:
                 "TOKEN_INVALID"}
    for token, reason in cases.items():
        body = await api.gql(COMPLETE_SIGN_UP, {"input": {
            "token": token, "birthDate": "1990-01-01", "acceptTerms": True}})
        (error,) = errors_of(body)
        assert error["extensions"]["reason"] == reason, (token[:20], body)
        assert error["extensions"]["fields"] == {"token": error["extensions"]["fields"]["token"]}
    assert await User.filter(email="grace@example.com").count() == 0


async def test_an_account_made_for_the_address_meanwhile_wins(
        browser: Browser, api: Api) -> None:
    landing = await browser.sign_in("google")
    await api.sign_up(email="grace@example.com", name="Grace H")
    body = await browser.complete(landing)
    assert errors_of(body)[0]["extensions"]["reason"] == "TOKEN_INVALID"
    assert await SocialIdentity.all().count() == 0
    # Signing in again now leads to linking, which the account's owner confirms.
    assert (await browser.sign_in("google")).query["social"] == "link_required"


async def test_completing_counts_against_the_sign_up_rate_limit(
        settings: Settings, browser: Browser) -> None:
    landing = await browser.sign_in("google")
    strict = create_app(replace(settings, signup_rate_per_ip="3/minute"), manage_database=False)
    transport = httpx.ASGITransport(app=strict, client=("203.0.113.77", 50100))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        codes = []
        for _ in range(4):
            response = await client.post("/graphql", json={"query": COMPLETE_SIGN_UP, "variables": {
                "input": {"token": landing.fragment["sign_up_token"], "birthDate": "1990-01-01",
                          "acceptTerms": False}}})
            codes.append(errors_of(response.json())[0]["extensions"]["code"])
    assert codes == ["BAD_USER_INPUT"] * 3 + ["RATE_LIMITED"]
    await nothing_created()
