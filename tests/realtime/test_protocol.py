"""The WebSocket protocol: graphql-transport-ws only, credentials in connection_init, limits."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from models.orgs import Role
from tests.conftest import STRONG_PASSWORD
from tests.orgs.conftest import Team
from tests.realtime.conftest import (
    ALLOWED_ORIGIN,
    MAX_MESSAGE_BYTES,
    MAX_SUBSCRIPTIONS,
    Server,
    bearer,
    socket,
)
from tests.realtime.helpers import LEAD_EVENTS, create_lead
from tests.tokens.conftest import make_token

GRAPHQL_RESPONSE = "application/graphql-response+json"
LOG_IN = """
mutation($input: LogInInput!) { logIn(input: $input) { user { id } } }"""


@pytest.mark.parametrize("payload", [
    None,
    {"Authorization": "Bearer not-a-jwt"},
    {"token": "rlk_pat_0000000000000000000000000000000000"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
])
async def test_without_valid_credentials_the_socket_closes_with_4401(
        embedded: Server, team: Team, payload: dict[str, str] | None) -> None:
    async with socket(embedded) as ws:
        await ws.send({"type": "connection_init", "payload": payload or {}})
        code, _ = await ws.closed()
    assert code == 4401


async def test_subscribing_before_connection_init_closes_with_4401(embedded: Server,
                                                                  team: Team) -> None:
    async with socket(embedded) as ws:
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id})
        assert (await ws.closed())[0] == 4401


async def test_an_ended_session_is_refused(embedded: Server, team: Team) -> None:
    owner = team.people[Role.OWNER]
    body = await embedded.gql("mutation { logOut { endedSessionId } }", token=owner.token)
    assert "errors" not in body, body
    async with socket(embedded) as ws:
        await ws.send({"type": "connection_init", "payload": bearer(owner.token)})
        code, reason = await ws.closed()
    assert code == 4401 and "session has ended" in reason


async def _cookie(server: Server, team: Team) -> str:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/graphql", json={"query": LOG_IN, "variables": {"input": {
            "email": team.people[Role.MEMBER].email, "password": STRONG_PASSWORD,
            "useCookies": True}}})
        assert "errors" not in response.json(), response.json()
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def test_the_session_cookie_counts_from_an_allowed_origin_only(embedded: Server,
                                                                    team: Team) -> None:
    cookie = await _cookie(embedded, team)
    async with socket(embedded, origin=ALLOWED_ORIGIN, cookie=cookie) as ws:
        assert await ws.init() == {"type": "connection_ack"}
    # No Origin (not a browser): the cookie alone is not enough.
    async with socket(embedded, cookie=cookie) as ws:
        await ws.send({"type": "connection_init", "payload": {}})
        assert (await ws.closed())[0] == 4401
    # Another site's page is refused at the handshake.
    with pytest.raises(InvalidStatus) as refused:
        async with socket(embedded, origin="https://evil.example", cookie=cookie):
            pass
    assert refused.value.response.status_code == 403


async def test_graphiql_on_the_api_s_own_origin_sends_its_headers_in_connection_init(
        embedded: Server, team: Team) -> None:
    async with socket(embedded, origin=embedded.url) as ws:
        assert await ws.init(bearer(team.people[Role.OWNER].token)) == {"type": "connection_ack"}


async def test_the_session_cookie_counts_on_the_api_s_own_origin(embedded: Server,
                                                                  team: Team) -> None:
    # GraphiQL, served by the API itself, subscribes with the cookies its logIn set.
    cookie = await _cookie(embedded, team)
    async with socket(embedded, origin=embedded.url, cookie=cookie) as ws:
        assert await ws.init() == {"type": "connection_ack"}


async def test_an_api_token_authenticates_in_connection_init(embedded: Server,
                                                             team: Team) -> None:
    token = await make_token(team, ["leads:read"])
    async with socket(embedded) as ws:
        assert await ws.init({"token": token.secret}) == {"type": "connection_ack"}


async def test_the_legacy_graphql_ws_protocol_is_refused(embedded: Server, team: Team) -> None:
    async with socket(embedded, subprotocols=[Subprotocol("graphql-ws")]) as ws:
        assert ws.connection.subprotocol is None
        code, _ = await ws.closed()  # at once, before any message
    assert code == 4406


async def test_connection_init_must_come_in_time(embedded: Server, team: Team) -> None:
    async with socket(embedded) as ws:
        code, _ = await ws.closed(wait=5)  # WS_INIT_TIMEOUT=1 on the test servers
    assert code == 4408


async def test_a_second_connection_init_closes_the_socket(embedded: Server, team: Team) -> None:
    async with socket(embedded) as ws:
        await ws.init(bearer(team.people[Role.OWNER].token))
        await ws.send({"type": "connection_init", "payload": {}})
        assert (await ws.closed())[0] == 4429


async def test_subscriptions_per_connection_are_limited(embedded: Server, team: Team) -> None:
    async with socket(embedded) as ws:
        await ws.init(bearer(team.people[Role.VIEWER].token))
        for n in range(MAX_SUBSCRIPTIONS):
            await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id=str(n))
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="over")
        refused = await ws.next("over")
        error = refused["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "SUBSCRIPTION_LIMIT",
                                       "limit": MAX_SUBSCRIPTIONS}
        assert f"already runs {MAX_SUBSCRIPTIONS} operations" in error["message"]
        # Ending one frees its place.
        await ws.send({"id": "0", "type": "complete"})
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="again")
        await ws.nothing()


async def test_messages_are_limited_in_size(embedded: Server, team: Team) -> None:
    async with socket(embedded) as ws:
        await ws.init(bearer(team.people[Role.VIEWER].token))
        padding = " " * MAX_MESSAGE_BYTES
        await ws.subscribe(LEAD_EVENTS + padding, {"org": team.org_id})
        code, reason = await ws.closed()
    assert code == 1009 and str(MAX_MESSAGE_BYTES) in reason


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json", "multipart/mixed",
                                    "text/event-stream"])
async def test_a_subscription_over_http_is_refused(http: httpx.AsyncClient, team: Team,
                                                   accept: str) -> None:
    """A request error pointing at the WebSocket, over POST and GET, never INTERNAL."""
    query = "subscription { membershipEvents { type } }"
    headers = {"authorization": f"Bearer {team.people[Role.OWNER].token}", "accept": accept}
    for response in (await http.post("/graphql", json={"query": query}, headers=headers),
                     await http.get("/graphql", params={"query": query}, headers=headers)):
        assert response.status_code == (400 if accept == GRAPHQL_RESPONSE else 200), \
            response.text
        body = response.json()
        assert "data" not in body, body
        assert body["errors"] == [{
            "message": "Subscriptions need a WebSocket: connect to /graphql with "
                       "graphql-transport-ws.",
            "extensions": {"code": "BAD_USER_INPUT", "reason": "SUBSCRIPTION_OVER_HTTP"}}]
    # Queries and mutations still run over HTTP, and a mutation over GET is still a 405.
    body = (await http.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)).json()
    assert body["data"]["me"]["id"]
    response = await http.get("/graphql",
                              params={"query": "mutation { logOut { endedSessionId } }"},
                              headers=headers)
    assert response.status_code == 405


async def test_every_message_is_a_text_frame(embedded: Server, team: Team) -> None:
    """Browsers hand the page a binary frame as a Blob: connection_ack, next, complete and error
    all go out as text (`recv()` gives str for a text frame, bytes for a binary one)."""
    async with socket(embedded) as ws:
        raw = ws.connection
        await ws.send({"type": "connection_init",
                       "payload": bearer(team.people[Role.MEMBER].token)})
        frames = [await asyncio.wait_for(raw.recv(), 10)]
        assert orjson.loads(frames[-1]) == {"type": "connection_ack"}
        # A query runs over the socket too: next, then complete.
        await ws.subscribe("{ me { id } }", id="q")
        frames += [await asyncio.wait_for(raw.recv(), 10) for _ in range(2)]
        assert [orjson.loads(frame)["type"] for frame in frames[1:]] == ["next", "complete"]
        # An invalid operation: error.
        await ws.subscribe("subscription { nope }", id="bad")
        frames.append(await asyncio.wait_for(raw.recv(), 10))
        assert orjson.loads(frames[-1])["type"] == "error"
        # An event of a subscription: next.
        await ws.subscribe(LEAD_EVENTS, {"org": team.org_id}, id="events")
        for attempt in range(40):  # until the subscription is registered
            await create_lead(embedded, team, f"Frame {attempt}")
            try:
                frames.append(await asyncio.wait_for(raw.recv(), 0.5))
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("no event arrived")
        assert orjson.loads(frames[-1])["type"] == "next"
    assert [type(frame) for frame in frames] == [str] * len(frames), frames
