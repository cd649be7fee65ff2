"""A lead's `source` says how it arrived: createLead by a person is MANUAL, by an API token or a
partner app's OAuth access token API (importLeads is IMPORT, see test_import.py). The input has
no `source`: the caller cannot claim another one."""

from __future__ import annotations

from typing import Any

import httpx

from core.settings import Settings
from models.activity import ActivityEvent
from models.leads import Lead, LeadSource
from models.orgs import Role
from tests.conftest import Api, errors_of
from tests.leads.conftest import CREATE_LEAD, db_id
from tests.oauth.conftest import register, tokens_for
from tests.orgs.conftest import Team, signed_in
from tests.tokens.conftest import make_token


async def create(api: Api, team: Team, bearer: str, **fields: Any) -> dict[str, Any]:
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                 "name": "Grace Hopper", **fields}},
                         token=bearer)
    assert "errors" not in body, body
    return body["data"]["createLead"]["lead"]


async def assert_stored_source(team: Team, lead: dict[str, Any], source: LeadSource) -> None:
    row = await Lead._scoped(team.org.id).get(id=db_id(lead["id"]))
    assert row.source is source
    (event,) = await ActivityEvent._scoped(team.org.id).filter(action="lead.created",
                                                              target_id=row.id)
    assert event.summary == {"source": source.value}


async def test_a_lead_made_by_a_person_is_manual(api: Api, team: Team) -> None:
    lead = await create(api, team, team.people[Role.MEMBER].token)
    assert lead["source"] == "MANUAL"
    await assert_stored_source(team, lead, LeadSource.MANUAL)


async def test_a_lead_made_with_an_api_token_is_api(api: Api, team: Team) -> None:
    token = await make_token(team, ["leads:write", "leads:read"])
    lead = await create(api, team, token.secret)
    assert lead["source"] == "API"
    await assert_stored_source(team, lead, LeadSource.API)


async def test_a_lead_made_with_an_oauth_access_token_is_api(
        api: Api, http: httpx.AsyncClient, settings: Settings, team: Team) -> None:
    partner = await signed_in(settings, "dev@partner.example.com", "Paula Partner")
    app = await register(api, partner)
    tokens = await tokens_for(api, http, app, team, scope="org:read leads:read leads:write")
    lead = await create(api, team, tokens["access_token"])
    assert lead["source"] == "API"
    await assert_stored_source(team, lead, LeadSource.API)


async def test_the_input_cannot_choose_the_source(api: Api, team: Team) -> None:
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                 "name": "Grace Hopper", "source": "IMPORT"}},
                         token=team.people[Role.MEMBER].token)
    assert errors_of(body)
    assert not await Lead._scoped(team.org.id).exists()
