"""The OAuth dance over HTTP, as a partner app does it: register, authorize, consent (approve as
ADMIN), exchange the code, call GraphQL with the token, rotate the refresh token, revoke."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx

from auth.oauth_credentials import ACCESS_PREFIX, REFRESH_PREFIX, digest
from billing.budgets import BUDGETS_BY_PLAN, PERSON_BUDGET
from models.activity import ActivityEvent
from models.billing import Plan
from models.oauth import OAuthApp, OAuthCode, OAuthGrant, OAuthToken, TokenKind
from models.orgs import Role
from tests.conftest import Api, error_code
from tests.oauth.conftest import (
    REDIRECT,
    App,
    code_for,
    exchange,
    pkce,
    query_of,
    refresh,
    register,
    tokens_for,
)
from tests.orgs.conftest import Person, Team

ORG = 'query($slug: String!) { organization(slug: $slug) { name } }'
LEADS = 'query($slug: String!) { organization(slug: $slug) { leads(first: 5) { totalCount } } }'
CREATE_LEAD = """
mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { name } } }"""
CONSENT = """
query($clientId: String!, $redirectUri: String!, $scope: String, $state: String,
      $codeChallenge: String, $codeChallengeMethod: String, $organizationId: ID!) {
  oauthAuthorizationRequest(clientId: $clientId, redirectUri: $redirectUri, scope: $scope,
      state: $state, codeChallenge: $codeChallenge, codeChallengeMethod: $codeChallengeMethod,
      organizationId: $organizationId) {
    app { name clientId }
    scopes { name description }
    organization { name }
    redirectUri
    state
  }
}"""
AUTHORIZED = """
query($slug: String!) {
  organization(slug: $slug) {
    authorizedApps(first: 10) {
      totalCount
      nodes { id scopes authorizedAt lastUsedAt app { name clientId } authorizedBy { email } }
    }
  }
}"""
REVOKE_GRANT = "mutation($id: ID!) { revokeOAuthGrant(input: {id: $id}) { authorizedApp { id } } }"


def authorize_url(app: App, challenge: str, **extra: str) -> str:
    params = {"response_type": "code", "client_id": app.client_id,
              "redirect_uri": app.redirect_uri, "scope": "org:read leads:read",
              "state": "s-1", "code_challenge": challenge, "code_challenge_method": "S256",
              **extra}
    return "/oauth/authorize?" + urlencode(params)


async def test_the_whole_dance(api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    challenge = pkce()
    # 1. The app sends the browser to /oauth/authorize: valid, so on to the consent page.
    response = await http.get(authorize_url(app_, challenge.challenge))
    assert response.status_code == 302, response.text
    consent_url = response.headers["location"]
    assert consent_url.startswith("http://localhost:3000/oauth/consent?")
    params = query_of(consent_url)
    assert params["client_id"] == app_.client_id and params["state"] == "s-1"
    # 2. The consent page shows what is asked.
    admin = team.people[Role.ADMIN]
    body = await api.gql(CONSENT, {
        "clientId": params["client_id"], "redirectUri": params["redirect_uri"],
        "scope": params["scope"], "state": params["state"],
        "codeChallenge": params["code_challenge"],
        "codeChallengeMethod": params["code_challenge_method"],
        "organizationId": team.org_id}, token=admin.token)
    assert "errors" not in body, body
    shown = body["data"]["oauthAuthorizationRequest"]
    assert shown["app"] == {"name": "Zapier", "clientId": app_.client_id}
    assert [s["name"] for s in shown["scopes"]] == ["org:read", "leads:read"]
    assert all(s["description"] for s in shown["scopes"])
    assert shown["organization"] == {"name": "Team acme"}
    assert shown["redirectUri"] == REDIRECT and shown["state"] == "s-1"
    # 3. The ADMIN approves: back to the app with a code and the state.
    code = await code_for(api, app_, team, challenge, state="s-1")
    (row,) = await OAuthCode._scoped(team.org.id)
    assert row.code_hash == digest(code) and row.used_at is None
    assert timedelta(minutes=4) < row.expires_at - datetime.now(UTC) <= timedelta(minutes=5)
    # 4. The app exchanges it (client_secret_basic).
    response = await exchange(http, app_, code, challenge.verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "org:read leads:read"
    assert re.fullmatch(rf"{ACCESS_PREFIX}[0-9A-Za-z]{{36}}", tokens["access_token"])
    assert tokens["refresh_token"].startswith(REFRESH_PREFIX)
    (grant,) = await OAuthGrant._scoped(team.org.id)
    assert grant.created_by_id == admin.user.id and grant.scopes == ["org:read", "leads:read"]
    stored = await OAuthToken._scoped(team.org.id).values_list("token_hash", flat=True)
    assert set(stored) == {digest(tokens["access_token"]), digest(tokens["refresh_token"])}
    # 5. The token acts in the org, with its scopes.
    access = tokens["access_token"]
    assert (await api.gql(ORG, {"slug": team.slug}, token=access))["data"] == {
        "organization": {"name": "Team acme"}}
    body = await api.gql(LEADS, {"slug": team.slug}, token=access)
    assert body["data"]["organization"]["leads"]["totalCount"] == 0
    # It spends its own cost budget, priced by the org's plan (engine/cost.py).
    assert api.last_cost is not None
    assert api.last_cost["limit"] == BUDGETS_BY_PLAN[Plan.FREE].points != PERSON_BUDGET.points
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "X"}},
                         token=access)
    assert body["errors"][0]["extensions"] == {
        "code": "FORBIDDEN", "permission": "leads:write", "scope": "leads:write"}
    # 6. The refresh token rotates: the old one is spent.
    response = await refresh(http, app_, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["scope"] == "org:read leads:read"
    body = await api.gql(ORG, {"slug": team.slug}, token=rotated["access_token"])
    assert "errors" not in body, body
    old = await OAuthToken.by_hash(digest(tokens["refresh_token"])).first()
    assert old is not None and old.used_at is not None
    # 7. The org sees the app it authorised.
    body = await api.gql(AUTHORIZED, {"slug": team.slug}, token=team.people[Role.OWNER].token)
    listed = body["data"]["organization"]["authorizedApps"]
    assert listed["totalCount"] == 1
    (node,) = listed["nodes"]
    assert node["app"] == {"name": "Zapier", "clientId": app_.client_id}
    assert node["authorizedBy"] == {"email": admin.email}
    assert node["scopes"] == ["org:read", "leads:read"] and node["lastUsedAt"] is not None
    # 8. The app revokes its refresh token (RFC 7009): the grant ends, access tokens included.
    response = await http.post("/oauth/revoke", data={"token": rotated["refresh_token"],
                                                     "token_type_hint": "refresh_token"},
                               auth=httpx.BasicAuth(app_.client_id, app_.secret))
    assert response.status_code == 200, response.text
    assert error_code(await api.gql(ORG, {"slug": team.slug},
                                    token=rotated["access_token"])) == "UNAUTHENTICATED"
    body = await api.gql(AUTHORIZED, {"slug": team.slug}, token=team.people[Role.OWNER].token)
    assert body["data"]["organization"]["authorizedApps"]["totalCount"] == 0


async def test_client_secret_post_and_revoking_an_access_token_alone(
        api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    challenge = pkce()
    code = await code_for(api, app_, team, challenge)
    response = await exchange(http, app_, code, challenge.verifier, basic=False)
    assert response.status_code == 200, response.text
    tokens = response.json()
    response = await http.post("/oauth/revoke", data={
        "token": tokens["access_token"], "client_id": app_.client_id,
        "client_secret": app_.secret})
    assert response.status_code == 200, response.text
    assert error_code(await api.gql(ORG, {"slug": team.slug},
                                    token=tokens["access_token"])) == "UNAUTHENTICATED"
    # The refresh token still works: only the access token was revoked.
    response = await refresh(http, app_, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    # Revoking an unknown token answers 200 too (RFC 7009 2.2).
    response = await http.post("/oauth/revoke", data={"token": "nonsense"},
                               auth=httpx.BasicAuth(app_.client_id, app_.secret))
    assert response.status_code == 200


async def test_the_org_revokes_the_grant_and_its_tokens_stop_at_once(
        api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    tokens = await tokens_for(api, http, app_, team)
    (grant,) = await OAuthGrant._scoped(team.org.id)
    body = await api.gql(AUTHORIZED, {"slug": team.slug}, token=team.people[Role.ADMIN].token)
    grant_id = body["data"]["organization"]["authorizedApps"]["nodes"][0]["id"]
    body = await api.gql(REVOKE_GRANT, {"id": grant_id}, token=team.people[Role.ADMIN].token)
    assert "errors" not in body, body
    assert error_code(await api.gql(ORG, {"slug": team.slug},
                                    token=tokens["access_token"])) == "UNAUTHENTICATED"
    response = await refresh(http, app_, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    (event,) = await ActivityEvent._scoped(team.org.id).filter(action="oauth_app.revoked")
    assert event.target_id == grant.id and event.actor_id == team.people[Role.ADMIN].user.id
    approved = await ActivityEvent._scoped(team.org.id).filter(action="oauth_app.authorized")
    assert [e.summary["clientId"] for e in approved] == [app_.client_id]


async def test_activity_by_an_app_names_its_grant(api: Api, http: httpx.AsyncClient,
                                                 partner: Person, team: Team) -> None:
    app = await register(api, partner, scopes=["org:read", "leads:write"])
    tokens = await tokens_for(api, http, app, team, scope="leads:write")
    body = await api.gql(CREATE_LEAD, {"i": {"organizationId": team.org_id, "name": "Via app"}},
                         token=tokens["access_token"])
    assert body["data"] == {"createLead": {"lead": {"name": "Via app"}}}, body
    (grant,) = await OAuthGrant._scoped(team.org.id)
    (event,) = await ActivityEvent._scoped(team.org.id).filter(action="lead.created")
    assert event.oauth_grant_id == grant.id and event.api_token_id is None
    assert event.actor_id is None
    body = await api.gql(
        'query($slug: String!) { organization(slug: $slug) { activity(first: 10, filter: '
        '{action: LEAD_CREATED}) { nodes { actor { id } actorTokenId actorAuthorizedAppId } '
        '} } }', {"slug": team.slug}, token=team.people[Role.OWNER].token)
    listed = await api.gql(AUTHORIZED, {"slug": team.slug}, token=team.people[Role.OWNER].token)
    grant_gid = listed["data"]["organization"]["authorizedApps"]["nodes"][0]["id"]
    assert body["data"]["organization"]["activity"]["nodes"] == [
        {"actor": None, "actorTokenId": None, "actorAuthorizedAppId": grant_gid}]


async def test_the_metadata_document(http: httpx.AsyncClient) -> None:
    response = await http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == "http://testserver"
    assert meta["token_endpoint"] == "http://testserver/oauth/token"
    assert meta["revocation_endpoint"] == "http://testserver/oauth/revoke"
    assert meta["authorization_endpoint"] == "http://testserver/oauth/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert "apps:authorize" not in meta["scopes_supported"]
    assert "leads:read" in meta["scopes_supported"]


async def test_the_app_is_stored_with_its_secret_hashed(app_: App) -> None:
    row = await OAuthApp.get(client_id=app_.client_id)
    assert row.client_secret_hash == digest(app_.secret)
    assert app_.secret not in str(await OAuthApp.all().values())
    assert row.secret_prefix == app_.secret[:14]


async def test_an_expired_access_token_is_unauthenticated(
        api: Api, http: httpx.AsyncClient, app_: App, team: Team) -> None:
    tokens = await tokens_for(api, http, app_, team)
    await OAuthToken._scoped(team.org.id).filter(kind=TokenKind.ACCESS).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1))
    body = await api.gql(ORG, {"slug": team.slug}, token=tokens["access_token"])
    assert error_code(body) == "UNAUTHENTICATED"
    assert "expired" in body["errors"][0]["message"]
    # A mistyped token fails its checksum.
    mistyped = tokens["access_token"][:-1] + ("A" if tokens["access_token"][-1] != "A" else "B")
    assert error_code(await api.gql(ORG, {"slug": team.slug}, token=mistyped)) == \
        "UNAUTHENTICATED"


async def test_a_partner_app_with_only_leads_read_reads_its_orgs_identity_and_leads(
        api: Api, http: httpx.AsyncClient, team: Team, rival: Team, partner: Person) -> None:
    app = await register(api, partner, scopes=["leads:read"])
    access = (await tokens_for(api, http, app, team, scope="leads:read"))["access_token"]
    body = await api.gql('query($slug: String!) { organization(slug: $slug) '
                         '{ id name slug leads(first: 5) { totalCount } } }',
                         {"slug": team.slug}, token=access)
    assert "errors" not in body, body
    assert body["data"]["organization"] == {"id": team.org_id, "name": team.org.name,
                                            "slug": team.slug, "leads": {"totalCount": 0}}
    body = await api.gql(ORG, {"slug": rival.slug}, token=access)
    assert error_code(body) == "NOT_FOUND"
