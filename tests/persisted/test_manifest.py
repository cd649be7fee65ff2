"""The manifest is read at start: a bad one stops the app from being built, with a message
naming the file and the fault, never at the first request."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from core.settings import ROOT, ConfigurationError, Settings
from server import create_app
from tests.persisted.conftest import CREATE_LEAD, PLANS, relay_manifest, sha

APOLLO = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
    {"id": sha(PLANS), "name": "Plans", "type": "query", "body": PLANS},
    {"id": sha(CREATE_LEAD), "name": "CreateLead", "type": "mutation", "body": CREATE_LEAD},
]}


def start(settings: Settings, tmp_path: Path, content: Any) -> Any:
    path = tmp_path / "manifest.json"
    path.write_bytes(content if isinstance(content, bytes) else orjson.dumps(content))
    return create_app(dataclasses.replace(settings, trusted_documents_file=path),
                      manage_database=False)


async def test_an_apollo_manifest_is_read(settings: Settings, tmp_path: Path) -> None:
    app = start(settings, tmp_path, APOLLO)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://testserver") as client:
        response = await client.post("/graphql", json={"extensions": {"persistedQuery": {
            "version": 1, "sha256Hash": sha(PLANS)}}})
    assert response.json()["data"]["plans"]


UNKNOWN_FIELD = "query Nope { plans { price } }"
NOT_GRAPHQL = "query { plans {"
TOO_DEEP = "query Deep { " + "me { " * 12 + "id" + " }" * 13


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "is not JSON"),
    (b"[]", "must hold a JSON object"),
    ({sha(PLANS): 7}, "must be a string"),
    ({"0" * 64: PLANS}, "is not the SHA-256 of its document"),
    ({sha(PLANS).upper(): PLANS}, "is not a SHA-256 in lower-case hex"),
    ({"abc": PLANS}, "is not a SHA-256 in lower-case hex"),
    (relay_manifest((UNKNOWN_FIELD,)), "does not hold against the schema: Cannot query field"),
    (relay_manifest((NOT_GRAPHQL,)), "does not hold against the schema: Syntax Error"),
    (relay_manifest((TOO_DEEP,)), "does not hold against the schema"),
    ({**APOLLO, "version": 2}, "an Apollo manifest needs"),
    ({**APOLLO, "operations": {}}, "\"operations\" must be a list"),
    ({**APOLLO, "operations": [{"id": sha(PLANS), "body": PLANS}]}, "operations[0] needs"),
    ({**APOLLO, "operations": [{"id": sha(PLANS), "name": "Plans", "type": "mutation",
                                "body": PLANS}]}, "is listed as mutation Plans"),
    # Empty: with PERSISTED_ONLY every request of its kinds would be refused.
    ({}, "lists no documents"),
    ({**APOLLO, "operations": []}, "lists no documents"),
], ids=["bad-json", "array", "not-a-string", "wrong-hash", "upper-case-id", "short-id",
        "invalid-document", "syntax-error", "too-deep", "apollo-version", "apollo-operations",
        "apollo-fields", "apollo-type", "empty", "apollo-empty"])
def test_a_bad_manifest_stops_the_start(settings: Settings, tmp_path: Path, content: Any,
                                        message: str) -> None:
    with pytest.raises(ConfigurationError, match="TRUSTED_DOCUMENTS_FILE") as refused:
        start(settings, tmp_path, content)
    assert message in str(refused.value)


def test_a_missing_manifest_stops_the_start(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        create_app(dataclasses.replace(settings, trusted_documents_file=tmp_path / "none.json"),
                   manage_database=False)


@pytest.mark.no_db
def test_the_server_process_refuses_to_start_on_a_bad_manifest(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(orjson.dumps({"0" * 64: PLANS}))
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    result = subprocess.run(
        [sys.executable, "-c", "from server import create_app; create_app()"], cwd=ROOT,
        env={**keep, "TRUSTED_DOCUMENTS_FILE": str(path), "DATABASE_URL": "sqlite://:memory:"},
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr
    assert "is not the SHA-256 of its document" in result.stderr


@pytest.mark.no_db
@pytest.mark.parametrize(("value", "kinds"), [("", ()), ("person", ("person",)),
                                              (" API_TOKEN, anonymous ",
                                               ("api_token", "anonymous"))])
def test_persisted_only_names_client_kinds(value: str, kinds: tuple[str, ...]) -> None:
    assert Settings.from_env({"PERSISTED_ONLY": value}).persisted_only == kinds


@pytest.mark.no_db
def test_persisted_only_refuses_an_unknown_kind() -> None:
    with pytest.raises(ConfigurationError, match="PERSISTED_ONLY: robot is no kind"):
        Settings.from_env({"PERSISTED_ONLY": "person,robot"})
