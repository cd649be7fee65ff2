"""Sign in with GitHub (plain OAuth 2: the person from `/user`, the email from `/user/emails`)."""

from __future__ import annotations

from models.accounts import User
from models.social import SocialIdentity, SocialLinkRequest
from tests.conftest import Api
from tests.smtp import Inbox
from tests.social.conftest import Browser
from tests.social.fake_provider import FakeProvider


async def test_github_sign_up_and_sign_in(browser: Browser, provider: FakeProvider) -> None:
    await browser.sign_up("github")
    (asked,) = provider.authorize_requests
    assert asked["code_challenge_method"] == "S256" and "nonce" not in asked
    assert asked["redirect_uri"] == "http://testserver/auth/github/callback"
    user = await User.get(email="linus@example.com")
    assert user.name == "Linus T" and user.password_hash is None
    identity = await SocialIdentity.get(user_id=user.id)
    assert (identity.provider, identity.subject) == ("github", "424242")
    browser.app.cookies.clear()
    assert (await browser.sign_in("github")).query["social"] == "signed_in"
    assert await User.all().count() == 1


async def test_github_uses_the_primary_verified_email(browser: Browser,
                                                     provider: FakeProvider) -> None:
    provider.github_emails = [
        {"email": "old@example.com", "primary": False, "verified": True},
        {"email": "Linus@Example.com", "primary": True, "verified": True},
    ]
    provider.github_user["name"] = None  # the login stands in for a missing name
    await browser.sign_up("github")
    user = await User.get()
    assert (user.email, user.name) == ("linus@example.com", "linus")


async def test_github_unverified_primary_email_is_refused(browser: Browser,
                                                          provider: FakeProvider) -> None:
    provider.github_emails = [{"email": "linus@example.com", "primary": True, "verified": False},
                              {"email": "other@example.com", "primary": False, "verified": True}]
    landing = await browser.sign_in("github")
    assert landing.query == {"social_error": "email_unverified", "provider": "github"}
    assert await User.all().count() == 0


async def test_github_denial_and_provider_errors(browser: Browser,
                                                 provider: FakeProvider) -> None:
    provider.deny = True
    assert (await browser.sign_in("github")).query["social_error"] == "access_denied"
    provider.deny = False
    provider.github_emails = "not a list"  # type: ignore[assignment]
    assert (await browser.sign_in("github")).query["social_error"] == "provider_error"
    assert await User.all().count() == 0


async def test_github_identity_of_a_google_account_needs_a_link(
        browser: Browser, provider: FakeProvider, inbox: Inbox, api: Api) -> None:
    """The account made by Google has no password: only the emailed link can confirm."""
    provider.google_user["email"] = "linus@example.com"
    await browser.sign_up("google")
    browser.app.cookies.clear()
    landing = await browser.sign_in("github")
    assert landing.query["social"] == "link_required"
    assert await SocialLinkRequest.filter(provider="github").exists()
    assert inbox.to("linus@example.com", "Link your GitHub account")
    body = await api.gql("""mutation C($t: String!) {
      confirmSocialLink(input: {token: $t, password: "anything-at-all-123"}) { accessToken } }""",
                         {"t": landing.fragment["link_token"]})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await SocialIdentity.filter(provider="github").count() == 0
