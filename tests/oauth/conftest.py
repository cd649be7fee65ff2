"""Fixtures and steps of the OAuth dance, each over HTTP as a partner app and a person do it.

`team` is the org "acme" (OWNER, ADMIN, MEMBER, VIEWER) from `tests/orgs/conftest.py`; `rival`
is "globex", another org with its own people. `partner` is a person who registered an app with
`registerOAuthApp` (its client id and secret as the API returned them).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api
from tests.orgs.conftest import Person, Team, make_team, signed_in

REDIRECT = "https://partner.example.com/callback"
REGISTER = """
mutation($input: RegisterOAuthAppInput!) {
  registerOAuthApp(input: $input) {
    clientSecret
    oauthApp { id name clientId secretPrefix redirectUris scopes createdAt }
  }
}"""
APPROVE = """
mutation($input: ApproveOAuthAuthorizationInput!) {
  approveOAuthAuthorization(input: $input) { oauthRedirect { redirectUrl } }
}"""
DENY = """
mutation($input: DenyOAuthAuthorizationInput!) {
  denyOAuthAuthorization(input: $input) { oauthRedirect { redirectUrl } }
}"""


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="rival.")


@dataclass
class App:
    id: str
    client_id: str
    secret: str
    owner: Person
    redirect_uri: str = REDIRECT


async def register(api: Api, owner: Person, *, scopes: list[str] | None = None,
                   redirect_uris: list[str] | None = None, name: str = "Zapier") -> App:
    body = await api.gql(REGISTER, {"input": {
        "name": name, "redirectUris": redirect_uris or [REDIRECT, "http://127.0.0.1:8765/cb"],
        "scopes": scopes or ["org:read", "leads:read", "leads:write"]}}, token=owner.token)
    assert "errors" not in body, body
    made = body["data"]["registerOAuthApp"]
    return App(made["oauthApp"]["id"], made["oauthApp"]["clientId"], made["clientSecret"], owner)


@pytest.fixture
async def partner(settings: Settings) -> Person:
    return await signed_in(settings, "dev@partner.example.com", "Paula Partner")


@pytest.fixture
async def app_(api: Api, partner: Person) -> App:
    return await register(api, partner)


@dataclass
class Pkce:
    verifier: str
    challenge: str


def pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def request_input(app: App, team: Team, challenge: Pkce | None = None, *,
                  scope: str | None = "org:read leads:read", state: str = "xyz-42",
                  **overrides: Any) -> dict[str, Any]:
    challenge = challenge or pkce()
    values: dict[str, Any] = {
        "clientId": app.client_id, "redirectUri": app.redirect_uri, "scope": scope,
        "state": state, "codeChallenge": challenge.challenge, "codeChallengeMethod": "S256",
        "organizationId": team.org_id}
    values.update(overrides)
    return values


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def approve(api: Api, app: App, team: Team, challenge: Pkce, *,
                  role: Role = Role.ADMIN, **overrides: Any) -> dict[str, Any]:
    return await api.gql(APPROVE, {"input": request_input(app, team, challenge, **overrides)},
                         token=team.people[role].token)


async def code_for(api: Api, app: App, team: Team, challenge: Pkce, **overrides: Any) -> str:
    """Approve as the team's ADMIN and return the code from the redirect URL."""
    body = await approve(api, app, team, challenge, **overrides)
    assert "errors" not in body, body
    url = body["data"]["approveOAuthAuthorization"]["oauthRedirect"]["redirectUrl"]
    assert url.startswith(app.redirect_uri + "?")
    return query_of(url)["code"]


async def exchange(http: httpx.AsyncClient, app: App, code: str, verifier: str, *,
                   basic: bool = True, secret: str | None = None,
                   redirect_uri: str | None = None) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": redirect_uri or app.redirect_uri}
    auth = None
    if basic:
        auth = httpx.BasicAuth(app.client_id, secret or app.secret)
    else:
        form |= {"client_id": app.client_id, "client_secret": secret or app.secret}
    return await http.post("/oauth/token", data=form, auth=auth)


async def refresh(http: httpx.AsyncClient, app: App, refresh_token: str) -> httpx.Response:
    return await http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": refresh_token},
                           auth=httpx.BasicAuth(app.client_id, app.secret))


async def tokens_for(api: Api, http: httpx.AsyncClient, app: App, team: Team,
                     **overrides: Any) -> dict[str, Any]:
    """The whole dance: approve as ADMIN, exchange the code; the token response."""
    challenge = pkce()
    code = await code_for(api, app, team, challenge, **overrides)
    response = await exchange(http, app, code, challenge.verifier)
    assert response.status_code == 200, response.text
    return response.json()
