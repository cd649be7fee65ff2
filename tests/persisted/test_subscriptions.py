"""Trusted documents over a WebSocket (graphql-transport-ws), in a server process of its own
started with a manifest and `PERSISTED_ONLY=person`: operations by id, unknown ids, and free
text refused to a person but not to an API token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.orgs import Role
from tests.orgs.conftest import Team
from tests.persisted.conftest import CREATE_LEAD, LEAD_EVENTS, ME, relay_manifest, sha
from tests.realtime.conftest import Server, Socket, bearer, socket, start_server, stop_server
from tests.realtime.conftest import team as team  # the realtime tests' fixture
from tests.tokens.conftest import make_token, subscribe


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("persisted")
    manifest = tmp / "manifest.json"
    manifest.write_bytes(orjson.dumps(relay_manifest()))
    started = start_server(database_url, tmp, "persisted",
                           TRUSTED_DOCUMENTS_FILE=str(manifest), PERSISTED_ONLY="person")
    yield started
    stop_server(started)


async def first_answer(ws: Socket, payload: dict[str, Any], id: str = "1") -> dict[str, Any]:
    await ws.start(payload, id)
    return await ws.next(id)


async def test_a_query_by_id_and_free_text_refused_to_a_person(server: Server,
                                                               team: Team) -> None:
    person = team.people[Role.MEMBER]
    async with socket(server) as ws:
        assert await ws.init(bearer(person.token)) == {"type": "connection_ack"}
        answer = await first_answer(ws, {"documentId": f"sha256:{sha(ME)}"})
        assert answer["data"] == {"me": {"id": person.id, "name": "Mia Member"}}
        refused = await first_answer(ws, {"query": ME}, id="2")
        assert refused["errors"][0]["extensions"] == {
            "code": "PERSISTED_QUERY_REQUIRED", "clientKind": "person"}
        unknown = await first_answer(ws, {"doc_id": sha("query X { me { id } }")}, id="3")
        assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        bad = await first_answer(ws, {"documentId": ["x" * 5_000]}, id="4")
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        # The socket still serves.
        again = await first_answer(ws, {"extensions": {"persistedQuery": {
            "version": 1, "sha256Hash": sha(ME)}}}, id="5")
        assert again["data"] == answer["data"]


async def test_a_subscription_by_id_delivers_events(server: Server, team: Team) -> None:
    await subscribe(team.org)
    token = await make_token(team, ["leads:read", "leads:write"])
    async with socket(server) as ws:
        assert await ws.init(bearer(team.people[Role.MEMBER].token)) == \
            {"type": "connection_ack"}
        await ws.start({"documentId": f"sha256:{sha(LEAD_EVENTS)}",
                        "variables": {"org": team.org_id}})

        async def create_lead(attempt: int) -> None:
            # Free text, from an API token: PERSISTED_ONLY=person leaves tokens free.
            body = await server.gql(CREATE_LEAD, {"input": {"organizationId": team.org_id,
                                                            "name": f"Lead {attempt}"}},
                                    token=token.secret)
            assert "errors" not in body, body

        # No Redis here: leads are created until the subscription, once registered, sees one.
        event = await ws.first_event(create_lead)
        assert event["data"]["leadEvents"]["type"] == "CREATED"


async def test_an_api_token_may_send_free_text_on_a_socket(server: Server, team: Team) -> None:
    await subscribe(team.org)
    token = await make_token(team, ["org:read"])
    async with socket(server) as ws:
        assert await ws.init(bearer(token.secret)) == {"type": "connection_ack"}
        answer = await first_answer(ws, {"query": "{ scopes { name } }"})
        assert answer["data"]["scopes"]
