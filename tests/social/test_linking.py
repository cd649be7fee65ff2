"""An existing account whose verified email a provider identity shares: nothing is linked and
nobody signed in until the account's owner confirms, with their password or the emailed link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.accounts import Session, User
from models.social import SocialIdentity, SocialLinkRequest
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of
from tests.smtp import Inbox, token_in
from tests.social.conftest import APP_URL, Browser, Landing
from tests.social.fake_provider import FakeProvider

CONFIRM = """mutation C($input: ConfirmSocialLinkInput!) {
  confirmSocialLink(input: $input) { accessToken refreshToken user { email emailVerified } }
}"""
CONFIRM_BY_EMAIL = """mutation E($input: ConfirmSocialLinkByEmailInput!) {
  confirmSocialLinkByEmail(input: $input) { accessToken user { email emailVerified } }
}"""
ME = "{ me { email linkedIdentities { provider email } } }"


async def existing_user(api: Api) -> User:
    """An account whose address was never proved (as accounts were made before signUp confirmed
    the address): its password may be a squatter's."""
    await api.sign_up(email="grace@example.com", name="Grace Hopper")
    await User.filter(email="grace@example.com").update(email_verified=False)
    return await User.get(email="grace@example.com")


async def link_required(browser: Browser, provider: str = "google") -> Landing:
    landing = await browser.sign_in(provider)
    assert landing.url.startswith(APP_URL + "?")
    assert landing.query == {"social": "link_required", "provider": provider}
    assert landing.fragment["link_token"].startswith("rlk_sl_")
    assert landing.fragment["email"] == "grace@example.com"
    return landing


async def test_pending_link_signs_no_one_in(api: Api, browser: Browser, inbox: Inbox,
                                            app: object) -> None:
    user = await existing_user(api)
    sessions_before = await Session.filter(user_id=user.id).count()
    await link_required(browser)
    assert await SocialIdentity.all().count() == 0
    assert await Session.filter(user_id=user.id).count() == sessions_before
    assert browser.cookie("relleks_access") is None
    pending = await SocialLinkRequest.get(user_id=user.id)
    assert (pending.provider, pending.subject, pending.used_at) == ("google", "g-1001", None)
    # The account's owner is told by mail, with a link that confirms.
    (mail,) = inbox.to("grace@example.com", "Link your Google account")
    assert token_in(mail, "confirm-social-link").startswith("rlk_slm_")


async def test_confirm_with_password(api: Api, browser: Browser, provider: FakeProvider) -> None:
    user = await existing_user(api)
    token = (await link_required(browser)).fragment["link_token"]
    wrong = await api.gql(CONFIRM, {"input": {"token": token, "password": "not-my-password-1"}})
    assert error_code(wrong) == "UNAUTHENTICATED"
    assert await SocialIdentity.all().count() == 0
    body = await api.gql(CONFIRM, {"input": {"token": token, "password": STRONG_PASSWORD}})
    assert "errors" not in body, body
    payload = body["data"]["confirmSocialLink"]
    assert payload["accessToken"] and payload["refreshToken"]
    assert payload["user"] == {"email": "grace@example.com", "emailVerified": False}
    identity = await SocialIdentity.get(user_id=user.id)
    assert (identity.provider, identity.subject) == ("google", "g-1001")
    me = await api.gql(ME, token=payload["accessToken"])
    assert me["data"]["me"]["linkedIdentities"] == [
        {"provider": "GOOGLE", "email": "grace@example.com"}]
    # The token works once; from now on Google signs Grace in directly.
    again = await api.gql(CONFIRM, {"input": {"token": token, "password": STRONG_PASSWORD}})
    assert errors_of(again)[0]["extensions"]["reason"] == "TOKEN_USED"
    browser.app.cookies.clear()
    assert (await browser.sign_in("google")).query["social"] == "signed_in"


async def test_confirm_with_password_sets_cookies(api: Api, browser: Browser) -> None:
    await existing_user(api)
    token = (await link_required(browser)).fragment["link_token"]
    response = await browser.app.post("/graphql", json={"query": CONFIRM, "variables": {
        "input": {"token": token, "password": STRONG_PASSWORD, "useCookies": True}}})
    payload = response.json()["data"]["confirmSocialLink"]
    assert payload["accessToken"] is None and browser.cookie("relleks_access")
    me = (await browser.app.post("/graphql", json={"query": ME})).json()
    assert me["data"]["me"]["email"] == "grace@example.com"


async def test_password_attempts_are_rate_limited(api: Api, browser: Browser) -> None:
    await existing_user(api)
    token = (await link_required(browser)).fragment["link_token"]
    codes = [error_code(await api.gql(CONFIRM, {"input": {"token": token,
                                                          "password": f"guess-number-{i}"}}))
             for i in range(6)]
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"]
    assert await SocialIdentity.all().count() == 0


async def test_confirm_by_email(api: Api, browser: Browser, inbox: Inbox) -> None:
    user = await existing_user(api)
    landing = await link_required(browser)
    (mail,) = inbox.to("grace@example.com", "Link your Google account")
    mail_token = token_in(mail, "confirm-social-link")
    # Each token works only its own way.
    crossed = await api.gql(CONFIRM_BY_EMAIL, {"input": {"token": landing.fragment["link_token"]}})
    assert errors_of(crossed)[0]["extensions"]["reason"] == "TOKEN_INVALID"
    crossed = await api.gql(CONFIRM, {"input": {"token": mail_token,
                                                "password": STRONG_PASSWORD}})
    assert errors_of(crossed)[0]["extensions"]["reason"] == "TOKEN_INVALID"
    body = await api.gql(CONFIRM_BY_EMAIL, {"input": {"token": mail_token}})
    assert "errors" not in body, body
    payload = body["data"]["confirmSocialLinkByEmail"]
    assert payload["user"] == {"email": "grace@example.com", "emailVerified": True}
    assert await SocialIdentity.filter(user_id=user.id, provider="google").exists()
    after = await User.get(id=user.id)
    assert after.email_verified
    # The address had never been proved, so the password may be a squatter's: it ends, and so
    # does every session but the new one.
    assert after.password_hash is None
    live = await Session.filter(user_id=user.id, revoked_at__isnull=True).count()
    assert live == 1
    log_in = await api.gql("""mutation L($p: String!) {
      logIn(input: {email: "grace@example.com", password: $p}) { accessToken } }""",
                           {"p": STRONG_PASSWORD})
    assert error_code(log_in) == "UNAUTHENTICATED"
    # Used up: neither token works again.
    for query, variables in ((CONFIRM_BY_EMAIL, {"token": mail_token}),
                             (CONFIRM, {"token": landing.fragment["link_token"],
                                        "password": STRONG_PASSWORD})):
        again = await api.gql(query, {"input": variables})
        assert errors_of(again)[0]["extensions"]["reason"] == "TOKEN_USED"


async def test_confirm_by_email_keeps_a_proven_password(api: Api, browser: Browser,
                                                        inbox: Inbox) -> None:
    user = await existing_user(api)
    await User.filter(id=user.id).update(email_verified=True)
    await link_required(browser)
    mail_token = token_in(inbox.to("grace@example.com", "Link your")[0], "confirm-social-link")
    body = await api.gql(CONFIRM_BY_EMAIL, {"input": {"token": mail_token}})
    assert "errors" not in body, body
    assert (await User.get(id=user.id)).password_hash is not None
    assert await Session.filter(user_id=user.id, revoked_at__isnull=True).count() == 2


async def test_expired_link_is_refused(api: Api, browser: Browser, inbox: Inbox) -> None:
    await existing_user(api)
    token = (await link_required(browser)).fragment["link_token"]
    await SocialLinkRequest.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    body = await api.gql(CONFIRM, {"input": {"token": token, "password": STRONG_PASSWORD}})
    assert errors_of(body)[0]["extensions"]["reason"] == "TOKEN_EXPIRED"
    mail_token = token_in(inbox.to("grace@example.com", "Link your")[0], "confirm-social-link")
    body = await api.gql(CONFIRM_BY_EMAIL, {"input": {"token": mail_token}})
    assert errors_of(body)[0]["extensions"]["reason"] == "TOKEN_EXPIRED"
    assert await SocialIdentity.all().count() == 0


async def test_a_newer_request_replaces_the_older(api: Api, browser: Browser) -> None:
    await existing_user(api)
    first = (await link_required(browser)).fragment["link_token"]
    second = (await link_required(browser)).fragment["link_token"]
    body = await api.gql(CONFIRM, {"input": {"token": first, "password": STRONG_PASSWORD}})
    assert errors_of(body)[0]["extensions"]["reason"] == "TOKEN_INVALID"
    body = await api.gql(CONFIRM, {"input": {"token": second, "password": STRONG_PASSWORD}})
    assert "errors" not in body, body


async def test_link_mails_are_rate_limited(api: Api, browser: Browser, inbox: Inbox) -> None:
    """Each sign-in mails a link, up to the mail limit; beyond it the password still works."""
    await existing_user(api)
    for _ in range(6):
        token = (await link_required(browser)).fragment["link_token"]
    assert len(inbox.to("grace@example.com", "Link your Google account")) == 5
    body = await api.gql(CONFIRM, {"input": {"token": token, "password": STRONG_PASSWORD}})
    assert "errors" not in body, body


async def test_unknown_token(api: Api) -> None:
    body = await api.gql(CONFIRM, {"input": {"token": "rlk_sl_nope", "password": "x"}})
    assert error_code(body) == "BAD_USER_INPUT"
    assert errors_of(body)[0]["extensions"]["reason"] == "TOKEN_INVALID"
