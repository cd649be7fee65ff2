"""A partner app's OAuth grant subscribes like an API token: within the scopes its org approved,
and only until the grant is revoked."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from models.orgs import Role
from tests.conftest import Api
from tests.oauth.conftest import App, app_, partner, tokens_for  # noqa: F401
from tests.orgs.conftest import Team
from tests.realtime.conftest import Server, bearer, socket, wait_subscribed
from tests.realtime.helpers import ACTIVITY, DELETE_LEAD, LEAD_EVENTS, create_lead

REVOKE = "mutation($id: ID!) { revokeOAuthGrant(input: {id: $id}) { authorizedApp { id } } }"
RESTRICT = """mutation($id: ID!) {
  restrictProcessing(input: {leadId: $id, restricted: true}) { lead { restricted } } }"""
GRANTS = "query($slug: String!) { organization(slug: $slug) { authorizedApps { nodes { id } } } }"


async def test_an_oauth_grant_subscribes_within_its_scopes_until_revoked(
        servers: tuple[Server, Server], redis: Redis, team: Team, api: Api,
        http: httpx.AsyncClient, app_: App) -> None:  # noqa: F811
    first, second = servers
    access = (await tokens_for(api, http, app_, team))["access_token"]  # org:read leads:read
    async with socket(first) as ws:
        assert (await ws.init(bearer(access)))["type"] == "connection_ack"
        await ws.subscribe(ACTIVITY, {"org": team.org_id}, id="activity")
        refused = await ws.next("activity")
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        await wait_subscribed(redis, f"org:{team.org.id}")
        await create_lead(second, team, "For the app")
        event = await ws.next("leads")
        assert event["data"]["leadEvents"]["lead"]["name"] == "For the app"

        admin = team.people[Role.ADMIN].token
        listed = await api.gql(GRANTS, {"slug": team.slug}, token=admin)
        (grant,) = listed["data"]["organization"]["authorizedApps"]["nodes"]
        assert "errors" not in await api.gql(REVOKE, {"id": grant["id"]}, token=admin)
        await create_lead(second, team, "After the revocation")
        error = await ws.ended("leads")
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "revoked" in error["message"]


async def test_an_oauth_grant_hears_nothing_of_a_restricted_lead(
        servers: tuple[Server, Server], redis: Redis, team: Team, api: Api,
        http: httpx.AsyncClient, app_: App) -> None:  # noqa: F811
    """A restricted lead does not exist for a partner app: not even its deletion reaches it."""
    first, second = servers
    admin = team.people[Role.ADMIN].token
    restricted = await create_lead(second, team, "Restricted")
    body = await second.gql(RESTRICT, {"id": restricted}, token=admin)
    assert body["data"]["restrictProcessing"]["lead"] == {"restricted": True}, body
    access = (await tokens_for(api, http, app_, team))["access_token"]
    async with socket(first) as ws:
        assert (await ws.init(bearer(access)))["type"] == "connection_ack"
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        await wait_subscribed(redis, f"org:{team.org.id}")
        body = await second.gql(DELETE_LEAD, {"id": restricted}, token=admin)
        assert "errors" not in body, body
        visible = await create_lead(second, team, "Visible")
        event = (await ws.next("leads"))["data"]["leadEvents"]
        assert (event["type"], event["leadId"]) == ("CREATED", visible), event


async def test_a_bad_oauth_token_is_closed_with_4401(servers: tuple[Server, Server]) -> None:
    async with socket(servers[0]) as ws:
        await ws.send({"type": "connection_init",
                       "payload": bearer("rlk_oat_" + "x" * 40)})
        code, _ = await ws.closed()
        assert code == 4401
