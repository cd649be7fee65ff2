"""Every refusal of the OAuth flow, in RFC 6749's shapes: JSON errors from the token endpoint with
their status, redirects with `error` and `state` once the redirect URI is known good, and no
redirect at all for an unknown client or an unregistered redirect URI."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from auth.permissions import ROLE_GRANTS, Permission
from core.settings import Settings
from models.oauth import OAuthCode, OAuthGrant, OAuthToken
from models.orgs import Role
from server import create_app
from tests.conftest import Api, empty_database, error_code, errors_of
from tests.oauth.conftest import (
    APPROVE,
    DENY,
    REDIRECT,
    App,
    Pkce,
    approve,
    code_for,
    exchange,
    pkce,
    query_of,
    refresh,
    register,
    request_input,
    tokens_for,
)
from tests.orgs.conftest import Person, Team

ORG = 'query($slug: String!) { organization(slug: $slug) { name } }'


def authorize_path(app: App, challenge: Pkce | None, **extra: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": app.client_id, "redirect_uri": app.redirect_uri,
        "scope": "org:read", "state": "st8"}
    if challenge is not None:
        params |= {"code_challenge": challenge.challenge, "code_challenge_method": "S256"}
    params |= extra
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description", "error_uri", "state"}
    assert response.headers["cache-control"] == "no-store"
    return body


# /oauth/authorize

async def test_an_unknown_client_or_redirect_uri_is_never_redirected_to(
        http: httpx.AsyncClient, app_: App) -> None:
    challenge = pkce()
    for path in (authorize_path(app_, challenge, client_id="rlkapp_nope"),
                 authorize_path(app_, challenge, redirect_uri="https://evil.example.com/cb"),
                 authorize_path(app_, challenge, redirect_uri=REDIRECT + "/"),  # exact match
                 authorize_path(app_, challenge, redirect_uri=None)):
        response = await http.get(path)
        assert response.status_code in {400, 401}, (path, response.text)
        assert "location" not in response.headers
        assert response.json()["error"] in {"invalid_client", "invalid_request"}


@pytest.mark.parametrize(("extra", "error"), [
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),  # absent means plain
    ({"code_challenge": "short"}, "invalid_request"),
    ({"scope": "billing:read"}, "invalid_scope"),  # not among the app's scopes
    ({"scope": "apps:authorize"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
])
async def test_other_authorize_errors_go_back_to_the_app_with_the_state(
        http: httpx.AsyncClient, app_: App, extra: dict[str, str | None], error: str) -> None:
    challenge = pkce()
    response = await http.get(authorize_path(app_, challenge, **extra))
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    assert query_of(location)["error"] == error and query_of(location)["state"] == "st8"


# The consent, in GraphQL.

async def test_the_consent_refuses_what_authorize_refuses(api: Api, app_: App,
                                                          team: Team) -> None:
    admin = team.people[Role.ADMIN].token
    for overrides, field in (({"clientId": "rlkapp_nope"}, "clientId"),
                             ({"redirectUri": "https://evil.example.com/cb"}, "redirectUri")):
        body = await api.gql(APPROVE, {"input": request_input(app_, team, **overrides)},
                             token=admin)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert field in error["extensions"]["fields"] and "redirectUrl" not in error["extensions"]
    for overrides, oauth_error in (({"codeChallengeMethod": "plain"}, "invalid_request"),
                                   ({"codeChallenge": None}, "invalid_request"),
                                   ({"scope": "leads:delete"}, "invalid_scope")):
        body = await api.gql(APPROVE, {"input": request_input(app_, team, **overrides)},
                             token=admin)
        (error,) = errors_of(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["oauthError"] == oauth_error
        redirect = error["extensions"]["redirectUrl"]
        assert redirect.startswith(REDIRECT + "?")
        assert query_of(redirect)["error"] == oauth_error
        assert query_of(redirect)["state"] == "xyz-42"
    assert await OAuthCode._scoped(team.org.id).count() == 0


async def test_members_and_viewers_cannot_approve(api: Api, app_: App, team: Team) -> None:
    for role in (Role.MEMBER, Role.VIEWER):
        (error,) = errors_of(await approve(api, app_, team, pkce(), role=role))
        assert error["extensions"] == {"code": "FORBIDDEN", "permission": "apps:authorize"}
    assert await OAuthCode._scoped(team.org.id).count() == 0


async def test_an_outsider_gets_not_found_for_the_org(api: Api, app_: App, team: Team,
                                                      rival: Team) -> None:
    body = await api.gql(APPROVE, {"input": request_input(app_, team)},
                         token=rival.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"


async def test_the_approver_cannot_grant_a_scope_their_role_lacks(
        api: Api, app_: App, team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    # With today's matrix an ADMIN holds every scope an app may ask for; narrow the ADMIN role
    # (the table the check reads) to show that the approver's role, not the app, is the limit.
    monkeypatch.setitem(ROLE_GRANTS, Role.ADMIN,
                        ROLE_GRANTS[Role.ADMIN] - {Permission.LEADS_WRITE})
    (error,) = errors_of(await approve(api, app_, team, pkce(), scope="org:read leads:write"))
    assert error["extensions"] == {"code": "FORBIDDEN", "permission": "leads:write",
                                   "reason": "SCOPE_ABOVE_ROLE"}
    assert await OAuthCode._scoped(team.org.id).count() == 0
    # The OWNER has it.
    body = await approve(api, app_, team, pkce(), role=Role.OWNER, scope="org:read leads:write")
    assert "errors" not in body, body


async def test_deny_sends_access_denied_with_the_state(api: Api, app_: App,
                                                       team: Team) -> None:
    body = await api.gql(DENY, {"input": request_input(app_, team)},
                         token=team.people[Role.VIEWER].token)
    url = body["data"]["denyOAuthAuthorization"]["oauthRedirect"]["redirectUrl"]
    assert url.startswith(REDIRECT + "?")
    answer = query_of(url)
    assert answer["error"] == "access_denied" and answer["state"] == "xyz-42"
    assert "code" not in answer


# /oauth/token

async def test_a_bad_verifier_or_none_is_refused(api: Api, http: httpx.AsyncClient, app_: App,
                                                 team: Team) -> None:
    challenge = pkce()
    code = await code_for(api, app_, team, challenge)
    assert_error(await exchange(http, app_, code, pkce().verifier), 400, "invalid_grant")
    response = await http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": app_.redirect_uri},
        auth=httpx.BasicAuth(app_.client_id, app_.secret))
    assert_error(response, 400, "invalid_request")
    assert await OAuthGrant._scoped(team.org.id).count() == 0


async def test_a_code_works_once_and_its_reuse_revokes_what_it_gave(
        api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    challenge = pkce()
    code = await code_for(api, app_, team, challenge)
    first = await exchange(http, app_, code, challenge.verifier)
    assert first.status_code == 200, first.text
    assert_error(await exchange(http, app_, code, challenge.verifier), 400, "invalid_grant")
    tokens = first.json()
    assert error_code(await api.gql(ORG, {"slug": team.slug},
                                    token=tokens["access_token"])) == "UNAUTHENTICATED"
    assert_error(await refresh(http, app_, tokens["refresh_token"]), 400, "invalid_grant")
    (grant,) = await OAuthGrant._scoped(team.org.id)
    assert grant.revoked_at is not None


async def test_two_concurrent_exchanges_of_one_code_give_tokens_once(
        api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    challenge = pkce()
    code = await code_for(api, app_, team, challenge)
    responses = await asyncio.gather(*(exchange(http, app_, code, challenge.verifier)
                                       for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 400]
    # The loser's attempt counts as a reuse: what the winner got is revoked too.
    (grant,) = await OAuthGrant._scoped(team.org.id)
    assert grant.revoked_at is not None
    assert await OAuthToken.of_grant(grant.id).filter(revoked_at__isnull=True).count() == 0


async def test_an_expired_code_is_refused(api: Api, http: httpx.AsyncClient, app_: App,
                                          team: Team) -> None:
    challenge = pkce()
    code = await code_for(api, app_, team, challenge)
    await OAuthCode._scoped(team.org.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert_error(await exchange(http, app_, code, challenge.verifier), 400, "invalid_grant")


async def test_the_code_is_bound_to_its_redirect_uri_and_client(
        api: Api, http: httpx.AsyncClient, app_: App, partner: Person, team: Team) -> None:
    challenge = pkce()
    code = await code_for(api, app_, team, challenge)
    assert_error(await exchange(http, app_, code, challenge.verifier,
                                redirect_uri="http://127.0.0.1:8765/cb"), 400, "invalid_grant")
    other = await register(api, partner, name="Other app")
    assert_error(await exchange(http, other, code, challenge.verifier), 400, "invalid_grant")
    # Still good for its own app and URI: the refusals spent nothing.
    response = await exchange(http, app_, code, challenge.verifier)
    assert response.status_code == 200, response.text


async def test_a_wrong_client_secret_is_invalid_client(api: Api, http: httpx.AsyncClient,
                                                       app_: App, team: Team) -> None:
    challenge = pkce()
    code = await code_for(api, app_, team, challenge)
    wrong = "rlk_ocs_" + "A" * 36
    response = await exchange(http, app_, code, challenge.verifier, secret=wrong)
    assert_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    response = await exchange(http, app_, code, challenge.verifier, secret=wrong, basic=False)
    assert_error(response, 401, "invalid_client")
    response = await http.post("/oauth/token", data={"grant_type": "authorization_code",
                                                     "code": code})
    assert_error(response, 401, "invalid_client")
    assert await OAuthGrant._scoped(team.org.id).count() == 0


async def test_unsupported_grant_types_and_bodies(http: httpx.AsyncClient, app_: App) -> None:
    auth = httpx.BasicAuth(app_.client_id, app_.secret)
    for grant_type in ("client_credentials", "password", ""):
        response = await http.post("/oauth/token", data={"grant_type": grant_type}, auth=auth)
        assert_error(response, 400, "unsupported_grant_type")
    response = await http.post("/oauth/token", json={"grant_type": "authorization_code"},
                               auth=auth)
    assert_error(response, 400, "unsupported_grant_type")


async def test_a_reused_refresh_token_revokes_the_grant(
        api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    tokens = await tokens_for(api, http, app_, team)
    rotated = await refresh(http, app_, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert_error(await refresh(http, app_, tokens["refresh_token"]), 400, "invalid_grant")
    new = rotated.json()
    assert error_code(await api.gql(ORG, {"slug": team.slug},
                                    token=new["access_token"])) == "UNAUTHENTICATED"
    assert_error(await refresh(http, app_, new["refresh_token"]), 400, "invalid_grant")
    (grant,) = await OAuthGrant._scoped(team.org.id)
    assert grant.revoked_at is not None
    assert await OAuthToken.of_grant(grant.id).filter(revoked_at__isnull=True).count() == 0


async def test_another_apps_refresh_token_is_refused(
        api: Api, http: httpx.AsyncClient, app_: App, partner: Person, team: Team) -> None:
    tokens = await tokens_for(api, http, app_, team)
    other = await register(api, partner, name="Other app")
    assert_error(await refresh(http, other, tokens["refresh_token"]), 400, "invalid_grant")
    # Not spent: the rightful app still refreshes.
    assert (await refresh(http, app_, tokens["refresh_token"])).status_code == 200


# The token in GraphQL.

async def test_the_token_sees_no_other_org(api: Api, http: httpx.AsyncClient, app_: App,
                                           team: Team, rival: Team) -> None:
    tokens = await tokens_for(api, http, app_, team)
    body = await api.gql(ORG, {"slug": rival.slug}, token=tokens["access_token"])
    assert error_code(body) == "NOT_FOUND"


async def test_the_token_is_not_a_person(api: Api, http: httpx.AsyncClient, app_: App,
                                         team: Team) -> None:
    tokens = await tokens_for(api, http, app_, team)
    for document in ("{ me { id } }",
                     'mutation { createOrganization(input: {name: "X"}) { organization { id } } }'):
        (error,) = errors_of(await api.gql(document, token=tokens["access_token"]))
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["extensions"]["reason"] == "PERSON_ONLY"
    body = await approve(api, app_, team, pkce())
    assert "errors" not in body
    body = await api.gql(APPROVE, {"input": request_input(app_, team)},
                         token=tokens["access_token"])
    assert error_code(body) == "FORBIDDEN"


# Rate limits.

@pytest.fixture
async def strict_http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await empty_database()  # the data and the keystore
    application = create_app(dataclasses.replace(settings, oauth_rate_per_ip="3/minute"),
                             manage_database=False)
    await application.state.services.limiter.reset()
    transport = httpx.ASGITransport(app=application, client=("198.51.100.9", 50000))
    async with application.router.lifespan_context(application), \
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_the_token_endpoint_is_rate_limited_per_ip(strict_http: httpx.AsyncClient) -> None:
    statuses = [(await strict_http.post("/oauth/token", data={"grant_type": "x"})).status_code
                for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    response = await strict_http.post("/oauth/token", data={"grant_type": "x"})
    assert response.json()["error"] == "slow_down" and int(response.headers["retry-after"]) > 0
