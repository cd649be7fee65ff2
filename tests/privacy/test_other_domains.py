"""Data rights reach the other domains' data: a person's archive carries their consents,
policy acceptances and linked sign-in identities; an organization's deletion ends its partner
apps' OAuth grants at once; the sweep mails the policy-change notices still owed."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from core.settings import Settings
from models.oauth import OAuthGrant
from models.orgs import Role
from tests.conftest import Api
from tests.oauth.conftest import App, app_, partner, tokens_for  # noqa: F401
from tests.orgs.conftest import Team
from tests.privacy.conftest import data_json, download, run_jobs, services_of, unzip
from tests.smtp import Inbox

SET_CONSENT = """mutation { setConsent(input: {kind: AI_TRAINING, granted: true}) { consent {
  granted } } }"""
REQUEST = "mutation { requestDataExport { dataExport { id } } }"
EXPORTS = "{ me { dataExports { nodes { status downloadUrl } } } }"
DELETE = """mutation($id: ID!, $slug: String!) {
  deleteOrganization(input: {organizationId: $id, confirmSlug: $slug}) { scheduledDeletion {
    status } } }"""
ORG = "query($slug: String!) { organization(slug: $slug) { name } }"


async def test_a_persons_archive_holds_their_consents_and_policy_acceptances(
        api: Api, http: httpx.AsyncClient, app: Any, settings: Settings) -> None:
    # Signing up accepts the terms in force.
    token = (await api.sign_up("grace@example.com", "Grace Hopper"))["accessToken"]
    assert (await api.gql(SET_CONSENT, token=token))["data"]["setConsent"]["consent"]["granted"]
    assert "errors" not in await api.gql(REQUEST, token=token)
    await run_jobs(app)
    (export,) = (await api.gql(EXPORTS, token=token))["data"]["me"]["dataExports"]["nodes"]
    assert export["status"] == "DONE"
    data = data_json(unzip((await download(http, export["downloadUrl"])).content))
    assert [(c["kind"], c["granted"]) for c in data["consents"]] == [("ai_training", True)]
    assert [a["version"] for a in data["policyAcceptances"]] == [settings.terms_version]
    assert data["linkedIdentities"] == [] and data["oauthAppsRegistered"] == []


async def test_deleting_an_organization_ends_its_oauth_grants_at_once(
        api: Api, http: httpx.AsyncClient, team: Team, app_: App) -> None:  # noqa: F811
    tokens = await tokens_for(api, http, app_, team)
    bearer = tokens["access_token"]
    before = await api.gql(ORG, {"slug": team.slug}, token=bearer)
    assert before["data"]["organization"]["name"], before
    body = await api.gql(DELETE, {"id": team.org_id, "slug": team.slug},
                         token=team.people[Role.OWNER].token)
    assert body["data"]["deleteOrganization"]["scheduledDeletion"]["status"] == "PENDING", body
    grants = await OAuthGrant._scoped(team.org.id)
    assert grants and all(g.revoked_at is not None for g in grants)
    after = await api.gql(ORG, {"slug": team.slug}, token=bearer)
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_sweep_mails_the_policy_change_notices_once(
        app: Any, team: Team, inbox: Inbox, settings: Settings) -> None:
    from jobs.sweep import sweep

    services = services_of(app)
    services.settings = dataclasses.replace(settings, terms_version="2099-01-01")
    try:
        first = await sweep(services)
        second = await sweep(services)
    finally:
        services.settings = settings
    assert first.policy_notices == len(team.people) and second.policy_notices == 0
    for person in team.people.values():
        assert len(inbox.to(person.email, "updated its terms")) == 1
