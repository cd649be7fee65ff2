"""`me.linkedIdentities`, `unlinkIdentity` (never the last way to sign in) and
`socialProviders`."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from models.accounts import User
from models.orgs import Role
from models.social import SocialIdentity
from tests.conftest import STRONG_PASSWORD, Api, error_code, errors_of
from tests.orgs.conftest import make_team
from tests.smtp import Inbox, token_in
from tests.social.conftest import Browser
from tests.social.fake_provider import FakeProvider

ME = "{ me { linkedIdentities { provider email linkedAt lastUsedAt } } }"
UNLINK = """mutation U($p: SocialProviderName!) {
  unlinkIdentity(input: {provider: $p}) { provider user { linkedIdentities { provider } } } }"""


async def by_cookie(browser: Browser, query: str, variables: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """A request as the signed-in browser sends it: cookies and the CSRF header."""
    headers = {"x-csrf-token": browser.cookie("relleks_csrf") or ""}
    response = await browser.app.post("/graphql", json={"query": query, "variables": variables},
                                      headers=headers)
    return response.json()


async def test_social_providers(api: Api) -> None:
    body = await api.gql("{ socialProviders { name label enabled startUrl } }")
    assert body["data"]["socialProviders"] == [
        {"name": "GOOGLE", "label": "Google", "enabled": True,
         "startUrl": "http://testserver/auth/google/start"},
        {"name": "GITHUB", "label": "GitHub", "enabled": True,
         "startUrl": "http://testserver/auth/github/start"},
    ]


async def test_unlink_never_leaves_no_way_to_sign_in(browser: Browser,
                                                     provider: FakeProvider) -> None:
    await browser.sign_up("google")  # a new account: no password
    provider.github_emails[0]["email"] = "grace@example.com"
    only = await by_cookie(browser, UNLINK, {"p": "GOOGLE"})
    assert error_code(only) == "CONFLICT"
    assert errors_of(only)[0]["extensions"]["reason"] == "LAST_SIGN_IN_METHOD"
    assert await SocialIdentity.all().count() == 1
    # With a second identity, one may go, and the other is then the last.
    user = await User.get()
    await SocialIdentity.create(user=user, provider="github", subject="424242",
                                email="grace@example.com")
    linked = (await by_cookie(browser, ME))["data"]["me"]["linkedIdentities"]
    assert [i["provider"] for i in linked] == ["GOOGLE", "GITHUB"]
    assert (await by_cookie(browser, UNLINK, {"p": "GOOGLE"}))["data"]["unlinkIdentity"] == {
        "provider": "GOOGLE", "user": {"linkedIdentities": [{"provider": "GITHUB"}]}}
    assert error_code(await by_cookie(browser, UNLINK, {"p": "GITHUB"})) == "CONFLICT"
    assert error_code(await by_cookie(browser, UNLINK, {"p": "GOOGLE"})) == "NOT_FOUND"
    assert [i.provider for i in await SocialIdentity.all()] == ["github"]


async def test_unlink_with_a_password(api: Api, browser: Browser) -> None:
    await api.sign_up(email="grace@example.com", name="Grace Hopper")
    token = (await browser.sign_in("google")).fragment["link_token"]
    body = await api.gql("""mutation C($t: String!, $p: String!) {
      confirmSocialLink(input: {token: $t, password: $p}) { accessToken } }""",
                         {"t": token, "p": STRONG_PASSWORD})
    access = body["data"]["confirmSocialLink"]["accessToken"]
    assert (await api.gql(UNLINK, {"p": "GOOGLE"}, token=access))["data"]["unlinkIdentity"]
    assert await SocialIdentity.all().count() == 0
    me = await api.gql(ME, token=access)
    assert me["data"]["me"]["linkedIdentities"] == []


async def test_a_social_account_sets_a_password_by_reset(
        api: Api, browser: Browser, inbox: Inbox) -> None:
    await browser.sign_up("google")
    log_in = """mutation L($p: String!) {
      logIn(input: {email: "grace@example.com", password: $p}) { accessToken } }"""
    assert error_code(await api.gql(log_in, {"p": STRONG_PASSWORD})) == "UNAUTHENTICATED"
    body = await api.gql('mutation { requestPasswordReset(input: {email: "grace@example.com"}) '
                         '{ accepted } }')
    assert body["data"]["requestPasswordReset"] == {"accepted": True}
    token = token_in(inbox.to("grace@example.com", "Reset")[0], "reset-password")
    body = await api.gql("""mutation R($t: String!, $p: String!) {
      resetPassword(input: {token: $t, newPassword: $p}) { passwordChanged } }""",
                         {"t": token, "p": STRONG_PASSWORD})
    assert body["data"]["resetPassword"] == {"passwordChanged": True}
    access = (await api.gql(log_in, {"p": STRONG_PASSWORD}))["data"]["logIn"]["accessToken"]
    # With a password, the only identity may go.
    assert (await api.gql(UNLINK, {"p": "GOOGLE"}, token=access))["data"]["unlinkIdentity"]


async def test_identities_need_a_person(api: Api) -> None:
    assert error_code(await api.gql(UNLINK, {"p": "GOOGLE"})) == "UNAUTHENTICATED"


async def test_linked_identities_only_on_me(api: Api, settings: Settings) -> None:
    team = await make_team(api, settings, "acme")
    member = team.people[Role.MEMBER]
    await SocialIdentity.create(user=member.user, provider="github", subject="7",
                                email=member.email)
    # A `User` has no `linkedIdentities`, the person's own included: only `Me` has them.
    query = """query N($id: ID!) {
      node(id: $id) { ... on User { email linkedIdentities { provider } } } }"""
    for token in (team.people[Role.OWNER].token, member.token):
        [error] = errors_of(await api.gql(query, {"id": member.id}, token=token))
        assert error["message"].startswith(
            "Cannot query field 'linkedIdentities' on type 'User'.")
    own = await api.gql("{ me { id linkedIdentities { provider } } }", token=member.token)
    assert own["data"]["me"] == {"id": member.id, "linkedIdentities": [{"provider": "GITHUB"}]}
