"""A socket acts with its credential as it is now: every operation re-checks it, and the socket is
closed with 4401 once it has ended (logout, revocation, an API token's expiry, password change,
removal, account deletion), or with 4403 at the instant an access token (a person's JWT, a
partner app's OAuth token) expires: refresh and reconnect. The notices that close it at once
cross processes (Redis): the ending happens on one server, the socket is open on the other."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
from redis.asyncio import Redis

from auth.oauth_credentials import digest
from auth.tokens import issue_access_token
from core.settings import Settings
from models.accounts import Session
from models.leads import Lead
from models.oauth import OAuthGrant, OAuthToken
from models.orgs import Role
from tests.conftest import STRONG_PASSWORD, Api
from tests.oauth.conftest import App, app_, partner, tokens_for  # noqa: F401
from tests.orgs.conftest import Team, gid
from tests.realtime.conftest import Server, Socket, bearer, socket, wait_subscribed
from tests.realtime.helpers import CREATE_LEAD, LEAD_EVENTS, REMOVE_MEMBER, create_lead
from tests.tokens.conftest import make_token

ME = "{ me { email } }"
REVOKE_SESSION = "mutation($id: ID!) { revokeSession(input: {id: $id}) { deletedId } }"
REVOKE_GRANT = "mutation($id: ID!) { revokeOAuthGrant(input: {id: $id}) { authorizedApp { id } } }"
GRANTS = "query($slug: String!) { organization(slug: $slug) { authorizedApps { nodes { id } } } }"
CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) { changePassword(input: $input) { user { id } } }"""
DELETE_ACCOUNT = """mutation($p: String!) { deleteAccount(input: {password: $p}) {
  scheduledDeletion { status } } }"""


async def _open(ws: Socket, token: str) -> None:
    assert (await ws.init(bearer(token)))["type"] == "connection_ack"


async def _me(ws: Socket) -> str:
    await ws.subscribe(ME, id="me")
    payload = await ws.next("me")
    assert await ws.receive() == {"id": "me", "type": "complete"}
    return payload["data"]["me"]["email"]  # type: ignore[no-any-return]


async def _second_session(settings: Settings, team: Team, role: Role) -> str:
    """Another signed-in session of the same person (a second device)."""
    now = datetime.now(UTC)
    session = await Session.create(user=team.people[role].user, last_used_at=now,
                                   expires_at=now + timedelta(days=1))
    return issue_access_token(settings, session.user_id, session.id)[0]


# Every operation started on the socket re-reads the credential: no notice needed.

async def test_a_query_on_an_open_socket_after_the_session_ended_closes_it(
        embedded: Server, team: Team) -> None:
    owner = team.people[Role.OWNER]
    async with socket(embedded) as ws:
        await _open(ws, owner.token)
        assert await _me(ws) == owner.email
        # Ended behind the server's back (no notice reaches it): the next operation finds out.
        await Session.filter(user_id=owner.user.id).update(revoked_at=datetime.now(UTC))
        await ws.subscribe(ME, id="again")
        code, reason = await ws.closed()
    assert code == 4401 and "session has ended" in reason


async def test_a_revoked_grant_cannot_run_a_mutation_on_its_open_socket(
        embedded: Server, team: Team, api: Api, http: httpx.AsyncClient,
        app_: App) -> None:  # noqa: F811
    access = (await tokens_for(api, http, app_, team,
                               scope="org:read leads:read leads:write"))["access_token"]
    token = await OAuthToken.by_hash(digest(access)).first()
    assert token is not None
    async with socket(embedded) as ws:
        await _open(ws, access)
        await OAuthGrant.by_id(token.grant_id).update(revoked_at=datetime.now(UTC))
        await ws.subscribe(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                   "name": "Written after revocation"}}, id="w")
        code, reason = await ws.closed()
    assert code == 4401 and "revoked" in reason
    assert not await Lead._scoped(team.org.id).filter(name="Written after revocation").exists()


# The socket is closed as soon as the credential ends, even when idle.

async def test_logging_out_closes_the_socket_of_that_session(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, second = servers
    owner = team.people[Role.OWNER]
    async with socket(first) as ws:
        await _open(ws, owner.token)
        assert await _me(ws) == owner.email
        await wait_subscribed(redis, f"sessions:{owner.user.id}")
        assert "errors" not in await second.gql("mutation { logOut { endedSessionId } }",
                                                token=owner.token)
        code, reason = await ws.closed()
    assert code == 4401 and "session has ended" in reason


async def test_changing_the_password_closes_the_sockets_of_other_sessions(
        servers: tuple[Server, Server], redis: Redis, team: Team, settings: Settings) -> None:
    first, second = servers
    member = team.people[Role.MEMBER]
    laptop = await _second_session(settings, team, Role.MEMBER)
    async with socket(first) as ws, socket(first) as kept:
        await _open(ws, laptop)
        await _open(kept, member.token)
        await wait_subscribed(redis, f"sessions:{member.user.id}")
        body = await second.gql(CHANGE_PASSWORD, {"input": {
            "currentPassword": STRONG_PASSWORD, "newPassword": "lantern-quiet-harbor-52-moss"}},
            token=member.token)
        assert body["data"]["changePassword"]["user"]["id"], body
        code, _ = await ws.closed()
        assert code == 4401
        assert await _me(kept) == member.email  # the session that changed it goes on


async def test_deleting_the_account_closes_its_sockets(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, second = servers
    member = team.people[Role.MEMBER]
    async with socket(first) as ws:
        await _open(ws, member.token)
        await wait_subscribed(redis, f"sessions:{member.user.id}")
        body = await second.gql(DELETE_ACCOUNT, {"p": STRONG_PASSWORD}, token=member.token)
        assert "errors" not in body, body
        code, _ = await ws.closed()
    assert code == 4401


async def test_revoking_the_grant_closes_the_app_s_socket(
        servers: tuple[Server, Server], redis: Redis, team: Team, api: Api,
        http: httpx.AsyncClient, app_: App) -> None:  # noqa: F811
    first, second = servers
    access = (await tokens_for(api, http, app_, team))["access_token"]
    async with socket(first) as ws:
        await _open(ws, access)
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        await wait_subscribed(redis, f"credentials:{team.org.id}")
        admin = team.people[Role.ADMIN].token
        listed = await second.gql(GRANTS, {"slug": team.slug}, token=admin)
        (grant,) = listed["data"]["organization"]["authorizedApps"]["nodes"]
        assert "errors" not in await second.gql(REVOKE_GRANT, {"id": grant["id"]}, token=admin)
        code, reason = await ws.closed()
    assert code == 4401 and "revoked" in reason


async def test_revoking_the_oauth_access_token_closes_its_socket(
        servers: tuple[Server, Server], redis: Redis, team: Team, api: Api,
        http: httpx.AsyncClient, app_: App) -> None:  # noqa: F811
    first, second = servers
    access = (await tokens_for(api, http, app_, team))["access_token"]
    async with socket(first) as ws:
        await _open(ws, access)
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        await wait_subscribed(redis, f"credentials:{team.org.id}")
        async with httpx.AsyncClient(base_url=second.url) as client:
            response = await client.post("/oauth/revoke", data={"token": access},
                                         auth=httpx.BasicAuth(app_.client_id, app_.secret))
        assert response.status_code == 200, response.text
        code, reason = await ws.closed()
    assert code == 4401 and "revoked" in reason


async def test_removing_a_member_closes_the_sockets_of_their_api_tokens(
        servers: tuple[Server, Server], redis: Redis, team: Team) -> None:
    first, second = servers
    token = await make_token(team, ["leads:read"], creator=Role.ADMIN)
    async with socket(first) as ws:
        await _open(ws, token.secret)
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        await wait_subscribed(redis, f"credentials:{team.org.id}")
        body = await second.gql(REMOVE_MEMBER, {"id": team.memberships[Role.ADMIN]},
                                token=team.people[Role.OWNER].token)
        assert "errors" not in body, body
        code, reason = await ws.closed()
    assert code == 4401 and "revoked" in reason


# Expiry: nothing is published, the socket knows when.

async def test_a_socket_closes_when_its_api_token_expires(embedded: Server, team: Team) -> None:
    token = await make_token(team, ["leads:read"],
                             expires_at=datetime.now(UTC) + timedelta(seconds=2))
    async with socket(embedded) as ws:
        await _open(ws, token.secret)
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        code, reason = await ws.closed(wait=15)
    assert code == 4401 and "expired" in reason


async def test_a_socket_closes_when_its_access_token_expires(
        embedded: Server, team: Team, settings: Settings) -> None:
    owner = team.people[Role.OWNER]
    session = await Session.filter(user_id=owner.user.id).first()
    assert session is not None
    short = dataclasses.replace(settings, access_token_ttl=2)
    access, _ = issue_access_token(short, owner.user.id, session.id)
    async with socket(embedded) as ws:
        await _open(ws, access)
        assert await _me(ws) == owner.email
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        # No event comes: the close comes at the expiry itself, 4403 "refresh and reconnect".
        code, reason = await ws.closed(wait=15)
    assert code == 4403 and "expired" in reason and "refresh" in reason
    # Reconnecting with the expired token is told the same; the session itself still stands.
    async with socket(embedded) as ws:
        await ws.send({"type": "connection_init", "payload": bearer(access)})
        code, reason = await ws.closed()
    assert code == 4403 and "expired" in reason
    async with socket(embedded) as ws:
        await _open(ws, owner.token)
        assert await _me(ws) == owner.email


async def test_a_socket_closes_when_its_oauth_access_token_expires(
        embedded: Server, team: Team, api: Api, http: httpx.AsyncClient,
        app_: App) -> None:  # noqa: F811
    access = (await tokens_for(api, http, app_, team))["access_token"]
    # The app's access token, minted as if with a lifetime that ends in two seconds.
    await OAuthToken.by_hash(digest(access)).update(
        expires_at=datetime.now(UTC) + timedelta(seconds=2))
    async with socket(embedded) as ws:
        await _open(ws, access)
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        code, reason = await ws.closed(wait=15)
    assert code == 4403 and "expired" in reason


async def test_logging_out_leaves_the_other_sessions_sockets_open(
        servers: tuple[Server, Server], redis: Redis, team: Team, settings: Settings) -> None:
    first, second = servers
    owner = team.people[Role.OWNER]
    phone = await _second_session(settings, team, Role.OWNER)
    async with socket(first) as ended, socket(first) as kept:
        await _open(ended, owner.token)
        await _open(kept, phone)
        await kept.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="leads")
        await wait_subscribed(redis, f"sessions:{owner.user.id}")
        await wait_subscribed(redis, f"org:{team.org.id}")
        assert "errors" not in await second.gql("mutation { logOut { endedSessionId } }",
                                                token=owner.token)
        code, reason = await ended.closed()
        assert code == 4401 and "session has ended" in reason
        # The phone's socket got the same notice, re-read its own session and goes on: the
        # next event reaches it.
        lead_id = await create_lead(second, team, "After the logout")
        event = (await kept.next("leads"))["data"]["leadEvents"]
        assert (event["type"], event["leadId"]) == ("CREATED", lead_id)


async def test_revoking_a_session_closes_its_socket_only(
        servers: tuple[Server, Server], redis: Redis, team: Team, settings: Settings) -> None:
    """`revokeSession` from one device ends another device's session: its socket closes at
    once, on the other process; the device that revoked it goes on."""
    first, second = servers
    member = team.people[Role.MEMBER]
    now = datetime.now(UTC)
    laptop = await Session.create(user=member.user, last_used_at=now,
                                  expires_at=now + timedelta(days=1))
    laptop_token = issue_access_token(settings, member.user.id, laptop.id)[0]
    async with socket(first) as ended, socket(first) as kept:
        await _open(ended, laptop_token)
        await _open(kept, member.token)
        await wait_subscribed(redis, f"sessions:{member.user.id}")
        body = await second.gql(REVOKE_SESSION, {"id": gid("Session", laptop.id)},
                                token=member.token)
        assert body["data"]["revokeSession"]["deletedId"] == gid("Session", laptop.id), body
        code, reason = await ended.closed()
        assert code == 4401 and "session has ended" in reason
        assert await _me(kept) == member.email
