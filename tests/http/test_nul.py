"""Text holding NUL (U+0000), which PostgreSQL refuses, is the client's bad input, not an
internal error, wherever it reaches a query; and it is refused on SQLite too (which would store
it), in variables, inline literals and plain HTTP forms and query strings alike."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from models.oauth import OAuthApp
from tests.conftest import Api, errors_of

REGISTER = """mutation($input: RegisterOAuthAppInput!) {
  registerOAuthApp(input: $input) { oauthApp { id redirectUris } } }"""
NUL_URI = "https://partner.example.com/cb\u0000evil"


def _refused_for_nul(body: dict[str, Any], field: str) -> None:
    error = errors_of(body)[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert error["extensions"]["reason"] == "NUL_CHARACTER", body
    assert field in error["extensions"]["fields"], body
    assert "NUL" in error["message"]
    assert "data" not in body or body["data"] is None


async def test_nul_in_a_variable_is_refused_on_every_database(api: Api) -> None:
    body = await api.gql("query($s: String!) { organization(slug: $s) { name } }",
                         {"s": "acme\u0000corp"})
    _refused_for_nul(body, "s")


async def test_nul_deep_in_a_variable_is_refused_and_nothing_is_stored(api: Api) -> None:
    token = (await api.sign_up())["accessToken"]
    body = await api.gql(REGISTER, {"input": {
        "name": "Zapier", "redirectUris": ["https://partner.example.com/ok", NUL_URI],
        "scopes": ["org:read"]}}, token=token)
    _refused_for_nul(body, "redirectUris")
    assert await OAuthApp.all().count() == 0


@pytest.mark.parametrize("document, field", [
    ('mutation { registerOAuthApp(input: {name: "Zapier", scopes: ["org:read"], '
     'redirectUris: ["https://partner.example.com/cb\\u0000evil"]}) { oauthApp { id } } }',
     "redirectUris"),
    ('mutation { registerOAuthApp(input: {name: "Zap\\u0000ier", scopes: ["org:read"], '
     'redirectUris: ["https://partner.example.com/cb"]}) { oauthApp { id } } }', "name"),
    ('mutation { registerOAuthApp(input: {name: """Zap\\u0000ier""", scopes: ["org:read"], '
     'redirectUris: ["https://partner.example.com/cb"]}) { oauthApp { id } } }', None),
    ('query { organization(slug: "acme\\u0000corp") { name } }', "slug"),
    ('query($s: String = "acme\\u0000") { organization(slug: $s) { name } }', "s"),
])
async def test_nul_in_an_inline_literal_is_refused_and_nothing_is_stored(
        api: Api, document: str, field: str | None) -> None:
    token = (await api.sign_up())["accessToken"]
    body = await api.gql(document, token=token)
    if field is None:  # a block string keeps `\u0000` as six characters: no NUL, accepted
        assert "errors" not in body, body
        return
    _refused_for_nul(body, field)
    assert await OAuthApp.all().count() == 0


OAUTH_FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("path, body", [
    ("/oauth/token", b"grant_type=refresh_token&refresh_token=x&client_id=a%00b"),
    ("/oauth/token", b"grant_type=authorization_code&code=a%00b&client_id=c&client_secret=d"),
    ("/oauth/revoke", b"token=x&client_id=a%00b"),
    ("/oauth/revoke", b"token=x%00y&client_id=a&client_secret=b"),
    ("/oauth/token?client_id=a%00b", b"grant_type=refresh_token&refresh_token=x"),
])
async def test_nul_in_an_oauth_form_is_a_400_invalid_request(http: httpx.AsyncClient, path: str,
                                                             body: bytes) -> None:
    response = await http.post(path, content=body, headers=OAUTH_FORM)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "NUL" in response.json()["error_description"]


async def test_nul_in_oauth_basic_credentials_is_a_400(http: httpx.AsyncClient) -> None:
    basic = base64.b64encode(b"a\x00b:secret").decode()
    for path in ("/oauth/token", "/oauth/revoke"):
        response = await http.post(path, content=b"grant_type=refresh_token&refresh_token=x"
                                   b"&token=x", headers={**OAUTH_FORM,
                                                         "authorization": f"Basic {basic}"})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("query", [
    "client_id=a%00b&response_type=code",
    "client_id=a&response_type=code&redirect_uri=https://partner.example.com/cb%00",
    "client_id=a&response_type=code&state=x%00y",
])
async def test_nul_in_an_authorize_request_is_a_400_never_a_redirect(
        http: httpx.AsyncClient, query: str) -> None:
    response = await http.get(f"/oauth/authorize?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "location" not in response.headers


@pytest.mark.parametrize("path", [
    "/exports/a%00b",
    "/auth/google/start?redirect=http://testserver/a%00b",
    "/auth/google/callback?state=a%00b",
    "/auth/google/callback?state=a&code=b%00",
])
async def test_nul_in_other_plain_endpoints_is_a_400(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 400, response.text
    assert "NUL" in response.text
    assert "location" not in response.headers
