"""`aiGeneration(id)` over a real WebSocket (graphql-transport-ws) against a uvicorn process
whose AI provider is the loopback fake: the state, the text as it streams, then the final
state and `complete`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.orgs import Role
from tests.ai.conftest import SUMMARY, FakeOpenAI, lead_of
from tests.ai_fake import DEFAULT_REPLY
from tests.conftest import Api
from tests.orgs.conftest import Team
from tests.realtime.conftest import (
    REDIS_URL,
    Server,
    bearer,
    socket,
    start_pair,
    start_server,
    stop_server,
)

FOLLOW = """subscription($id: ID!) { aiGeneration(id: $id) {
  status text delta generation { id status text errorCode } } }"""


@pytest.fixture
def server(database_url: str, tmp_path: Path, fake_openai: FakeOpenAI,
           fake_openai_server: str) -> Iterator[Server]:
    fake_openai.chunks = 6
    fake_openai.chunk_delay = 0.25
    process = start_server(database_url, tmp_path, "ai", AI_BASE_URL=fake_openai_server,
                           AI_MODEL="fake-model", AI_API_KEY="sk-test-key")
    yield process
    stop_server(process)


async def test_a_generation_streams_to_its_subscriber(api: Api, team: Team, rival: Team,
                                                      server: Server) -> None:
    member = team.people[Role.MEMBER].token
    lead = await lead_of(api, team)
    body = await server.gql(SUMMARY, {"lead": lead}, token=member)
    assert "errors" not in body, body
    generation_id = body["data"]["generateLeadSummary"]["generation"]["id"]
    async with socket(server) as ws:
        assert await ws.init(bearer(member)) == {"type": "connection_ack"}
        await ws.subscribe(FOLLOW, {"id": generation_id})
        first = (await ws.next())["data"]["aiGeneration"]
        assert first["generation"]["id"] == generation_id
        assert first["status"] in {"PENDING", "STREAMING"} and first["delta"] is None
        deltas, texts = [], []
        while True:
            update = (await ws.next())["data"]["aiGeneration"]
            if update["generation"] is not None:
                break
            assert update["status"] == "STREAMING"
            deltas.append(update["delta"])
            texts.append(update["text"])
            assert update["text"].endswith(update["delta"])
            assert DEFAULT_REPLY.startswith(update["text"])  # always the whole text so far
        assert update["status"] == "SUCCEEDED"
        assert update["generation"]["text"] == update["text"] == DEFAULT_REPLY
        assert len(deltas) >= 2, deltas  # pieces arrived one by one, before the end
        assert texts[-1] == DEFAULT_REPLY
        assert await ws.receive() == {"id": "1", "type": "complete"}
        # Subscribing to a finished generation gives its final state and completes.
        await ws.subscribe(FOLLOW, {"id": generation_id}, id="2")
        again = (await ws.next("2"))["data"]["aiGeneration"]
        assert again["status"] == "SUCCEEDED" and again["generation"]["text"] == DEFAULT_REPLY
        assert await ws.receive() == {"id": "2", "type": "complete"}
    async with socket(server) as ws:  # another tenant: NOT_FOUND
        assert await ws.init(bearer(rival.people[Role.OWNER].token)) == \
            {"type": "connection_ack"}
        await ws.subscribe(FOLLOW, {"id": generation_id})
        refused = await ws.next()
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND", refused


@pytest.fixture
def pair(database_url: str, tmp_path: Path, fake_openai: FakeOpenAI,
         fake_openai_server: str) -> Iterator[tuple[Server, Server]]:
    """Two processes sharing Redis, both asking the fake."""
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set: streaming across processes needs Redis")
    fake_openai.chunks = 6
    fake_openai.chunk_delay = 0.25
    first, second = start_pair(database_url, tmp_path, ("ai-one", "ai-two"),
                               REDIS_URL=REDIS_URL, AI_BASE_URL=fake_openai_server,
                               AI_MODEL="fake-model", AI_API_KEY="sk-test-key")
    yield first, second
    stop_server(first)
    stop_server(second)


async def test_a_subscriber_on_another_process_gets_the_stream(
        api: Api, team: Team, pair: tuple[Server, Server]) -> None:
    first, second = pair
    member = team.people[Role.MEMBER].token
    lead = await lead_of(api, team)
    body = await first.gql(SUMMARY, {"lead": lead}, token=member)
    generation_id = body["data"]["generateLeadSummary"]["generation"]["id"]
    async with socket(second) as ws:
        assert await ws.init(bearer(member)) == {"type": "connection_ack"}
        await ws.subscribe(FOLLOW, {"id": generation_id})
        updates = []
        while True:
            update = (await ws.next())["data"]["aiGeneration"]
            updates.append(update)
            if update["status"] in {"SUCCEEDED", "FAILED"}:
                break
        assert update["generation"]["text"] == DEFAULT_REPLY
        assert any(u["delta"] for u in updates), updates
        assert await ws.receive() == {"id": "1", "type": "complete"}
