"""PERSISTED_ONLY: the kinds of client it names may run trusted documents only; a free-text
`query` from them is PERSISTED_QUERY_REQUIRED, while other kinds send text as ever. The people
and tokens are made through an app without the setting; the requests go to one with it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.orgs import Role
from tests.conftest import Api
from tests.oauth.conftest import App, app_, partner, tokens_for  # noqa: F401
from tests.orgs.conftest import Team, make_team
from tests.persisted.conftest import ORGANIZATION, PLANS, app_with, sha
from tests.tokens.conftest import make_token


async def run(client: httpx.AsyncClient, body: dict[str, Any], token: str | None = None
              ) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def refused(answer: dict[str, Any], kind: str) -> bool:
    errors = answer.get("errors") or []
    return "data" not in answer and len(errors) == 1 and errors[0]["extensions"] == {
        "code": "PERSISTED_QUERY_REQUIRED", "clientKind": kind}


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "kinds")


@pytest.fixture
async def who(team: Team) -> dict[str, str]:
    token = await make_token(team, ["org:read"])
    return {"person": team.people[Role.MEMBER].token, "api_token": token.secret}


TEXT = {"query": ORGANIZATION, "variables": {"slug": "kinds"}}
BY_ID = {"documentId": f"sha256:{sha(ORGANIZATION)}", "variables": {"slug": "kinds"}}
ORG = {"organization": {"name": "Team kinds"}}


async def test_a_person_is_refused_free_text_and_a_token_is_not(
        settings: Settings, who: dict[str, str]) -> None:
    async with app_with(settings, persisted_only=("person",)) as client:
        assert refused(await run(client, TEXT, who["person"]), "person")
        assert (await run(client, BY_ID, who["person"]))["data"] == ORG
        assert (await run(client, TEXT, who["api_token"]))["data"] == ORG
        assert (await run(client, {"query": PLANS}))["data"]["plans"]  # anonymous


async def test_a_token_and_anonymous_clients_are_refused_free_text_and_a_person_is_not(
        settings: Settings, who: dict[str, str]) -> None:
    async with app_with(settings, persisted_only=("api_token", "anonymous")) as client:
        assert refused(await run(client, TEXT, who["api_token"]), "api_token")
        assert refused(await run(client, {"query": PLANS}), "anonymous")
        assert refused(await run(client, TEXT, "not-a-valid-token"), "anonymous")
        assert (await run(client, BY_ID, who["api_token"]))["data"] == ORG
        assert (await run(client, {"doc_id": sha(PLANS)}))["data"]["plans"]
        assert (await run(client, TEXT, who["person"]))["data"] == ORG


async def test_a_partner_app_is_refused_free_text_and_may_send_an_id(
        settings: Settings, api: Api, http: httpx.AsyncClient, team: Team,
        app_: App, who: dict[str, str]) -> None:  # noqa: F811
    """A partner app's OAuth access token (the app approved by the org's ADMIN, the code
    exchanged at /oauth/token) is the `partner_app` kind."""
    access = (await tokens_for(api, http, app_, team))["access_token"]  # org:read leads:read
    async with app_with(settings, persisted_only=("partner_app",)) as client:
        assert refused(await run(client, TEXT, access), "partner_app")
        assert (await run(client, BY_ID, access))["data"] == ORG
        assert (await run(client, TEXT, who["api_token"]))["data"] == ORG
        assert (await run(client, TEXT, who["person"]))["data"] == ORG


async def test_text_sent_with_its_id_counts_as_the_id(settings: Settings) -> None:
    """Apollo's link sends the text with the hash after a not-found: for a trusted document
    that is the document, not free text."""
    async with app_with(settings, persisted_only=("anonymous",)) as client:
        answer = await run(client, {"query": PLANS, "extensions": {"persistedQuery": {
            "version": 1, "sha256Hash": sha(PLANS)}}})
    assert answer["data"]["plans"]


async def test_a_bad_id_is_reported_as_such(settings: Settings, who: dict[str, str]) -> None:
    async with app_with(settings, persisted_only=("person",)) as client:
        answer = await run(client, {"documentId": "nope"}, who["person"])
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
