"""Partner apps: registering one (redirect URIs and scopes checked, the secret shown once),
listing one's own on `me.oauthApps`, deleting one (its authorizations end with it)."""

from __future__ import annotations

import re

import httpx
import pytest

from auth.oauth_credentials import CLIENT_SECRET_PREFIX, digest
from models.oauth import OAuthApp, OAuthGrant
from models.orgs import Role
from resolvers.oauth import redirect_uri_problem
from tests.conftest import Api, error_code, errors_of
from tests.oauth.conftest import REGISTER, App, tokens_for
from tests.orgs.conftest import Person, Team

MY_APPS = "{ me { oauthApps { nodes { id name clientId secretPrefix redirectUris scopes } } } }"
DELETE = "mutation($id: ID!) { deleteOAuthApp(input: {id: $id}) { deletedId } }"
ORG = 'query($slug: String!) { organization(slug: $slug) { name } }'


@pytest.mark.no_db
@pytest.mark.parametrize(("uri", "ok"), [
    ("https://partner.example.com/cb", True),
    ("https://partner.example.com/cb?x=1", True),
    ("http://localhost:8080/cb", True),
    ("http://127.0.0.1/cb", True),
    ("http://[::1]:9000/cb", True),
    ("http://partner.example.com/cb", False),
    ("https://partner.example.com/cb#frag", False),
    ("https://user:pw@partner.example.com/cb", False),
    ("/relative/cb", False),
    ("javascript:alert(1)", False),
    ("custom-scheme://cb", False),
    ("https://" + "a" * 2000 + ".com/", False),
])
def test_redirect_uri_rules(uri: str, ok: bool) -> None:
    assert (redirect_uri_problem(uri) is None) is ok


async def test_register_list_and_the_secret_shown_once(api: Api, partner: Person) -> None:
    body = await api.gql(REGISTER, {"input": {
        "name": " Zapier ", "redirectUris": ["https://z.example.com/cb"],
        "scopes": ["leads:read", "org:read"]}}, token=partner.token)
    made = body["data"]["registerOAuthApp"]
    secret = made["clientSecret"]
    assert re.fullmatch(rf"{CLIENT_SECRET_PREFIX}[0-9A-Za-z]{{36}}", secret)
    app = made["oauthApp"]
    assert app["name"] == "Zapier" and app["scopes"] == ["org:read", "leads:read"]
    assert app["clientId"].startswith("rlkapp_") and app["secretPrefix"] == secret[:14]
    row = await OAuthApp.get(client_id=app["clientId"])
    assert row.client_secret_hash == digest(secret) and row.owner_id == partner.user.id
    listed = await api.gql(MY_APPS, token=partner.token)
    assert listed["data"]["me"]["oauthApps"]["nodes"] == [
        {k: app[k] for k in ("id", "name", "clientId", "secretPrefix", "redirectUris",
                             "scopes")}]
    assert secret not in str(listed)


async def test_bad_registrations_name_the_field(api: Api, partner: Person) -> None:
    cases = [
        ({"name": "", "redirectUris": ["https://a.example.com/cb"], "scopes": ["org:read"]},
         "name"),
        ({"name": "A", "redirectUris": ["http://a.example.com/cb"], "scopes": ["org:read"]},
         "redirectUris"),
        ({"name": "A", "redirectUris": ["https://a.example.com/cb#x"], "scopes": ["org:read"]},
         "redirectUris"),
        ({"name": "A", "redirectUris": [], "scopes": ["org:read"]}, "redirectUris"),
        ({"name": "A", "redirectUris": ["https://a.example.com/cb"], "scopes": []}, "scopes"),
        ({"name": "A", "redirectUris": ["https://a.example.com/cb"], "scopes": ["leads:fly"]},
         "scopes"),
        ({"name": "A", "redirectUris": ["https://a.example.com/cb"],
          "scopes": ["apps:authorize"]}, "scopes"),
        ({"name": "A", "redirectUris": ["https://a.example.com/cb"],
          "scopes": ["tokens:write"]}, "scopes"),
    ]
    for values, field in cases:
        (error,) = errors_of(await api.gql(REGISTER, {"input": values}, token=partner.token))
        assert error["extensions"]["code"] == "BAD_USER_INPUT", values
        assert field in error["extensions"]["fields"], (values, error)
    assert await OAuthApp.filter(owner_id=partner.user.id).count() == 0


async def test_registering_needs_a_person(api: Api) -> None:
    body = await api.gql(REGISTER, {"input": {"name": "A", "redirectUris": [],
                                              "scopes": []}})
    assert error_code(body) == "UNAUTHENTICATED"


async def test_only_the_owner_deletes_and_authorizations_end_with_the_app(
        api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    tokens = await tokens_for(api, http, app_, team)
    body = await api.gql(DELETE, {"id": app_.id}, token=team.people[Role.OWNER].token)
    assert error_code(body) == "NOT_FOUND"
    body = await api.gql(DELETE, {"id": app_.id}, token=app_.owner.token)
    assert body["data"] == {"deleteOAuthApp": {"deletedId": app_.id}}
    assert await OAuthApp.filter(client_id=app_.client_id).count() == 0
    assert await OAuthGrant._scoped(team.org.id).count() == 0
    assert error_code(await api.gql(ORG, {"slug": team.slug},
                                    token=tokens["access_token"])) == "UNAUTHENTICATED"
    assert (await http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": tokens["refresh_token"]},
                            auth=httpx.BasicAuth(app_.client_id, app_.secret))).status_code == 401


async def test_other_people_see_no_apps(api: Api, app_: App, team: Team) -> None:
    listed = await api.gql(MY_APPS, token=team.people[Role.OWNER].token)
    assert listed["data"]["me"]["oauthApps"]["nodes"] == []


async def test_apps_per_person_are_capped(api: Api, partner: Person) -> None:
    for n in range(25):
        await OAuthApp.create(owner_id=partner.user.id, name=f"App {n}",
                              client_id=f"rlkapp_{n}", client_secret_hash="x" * 64,
                              secret_prefix="rlk_ocs_x", redirect_uris=[], scopes=[])
    body = await api.gql(REGISTER, {"input": {"name": "One more", "scopes": ["org:read"],
                                              "redirectUris": ["https://a.example.com/cb"]}},
                         token=partner.token)
    (error,) = errors_of(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "APP_LIMIT"}
