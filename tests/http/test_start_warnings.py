"""A server started as `make run` starts it prints no warnings: not at import (authlib warned at
every start until `httpx2`, the HTTP client it asks for, was installed), nor while it serves
GraphiQL, queries, a mutation that mails, a WebSocket, nor when it stops.

The process runs with `PYTHONWARNINGS=default`, which also shows the DeprecationWarnings that
Python hides outside `__main__`: a library's deprecation reaches us before it breaks us.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
import websockets

from tests import serving

pytestmark = pytest.mark.no_db

WARNING = re.compile(r"\b\w*Warning\b")
SIGN_UP = """mutation SignUp($input: SignUpInput!) { signUp(input: $input) { email } }"""


async def _open_a_socket(port: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/graphql",
                                  subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(websockets.ConnectionClosed):  # 4401: no credential
            await asyncio.wait_for(socket.recv(), 10)


def test_a_served_server_prints_no_warning(tmp_path: Path) -> None:
    with serving.served(tmp_path, migrated=True, RELLEKS_ENV="development",
                        PYTHONWARNINGS="default") as port:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/graphql", headers={"accept": "text/html"},
                         timeout=30).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
        answer = httpx.post(f"{base}/graphql", timeout=30, json={"query": SIGN_UP, "variables": {
            "input": {"email": "ada@example.com", "password": "plum-orbit-canvas-87-tide",
                      "name": "Ada Lovelace", "birthDate": "1990-05-17", "acceptTerms": True}}})
        assert answer.json()["data"]["signUp"]["email"] == "ada@example.com", answer.text
        assert httpx.post(f"{base}/graphql", timeout=30, json={
            "query": "{ currentPolicy { url } }"}).json()["data"]["currentPolicy"]["url"]
        asyncio.run(_open_a_socket(port))
    printed = (tmp_path / "server.err").read_text() + (tmp_path / "server.log").read_text()
    assert "==== Mail " in printed  # what was asked of it reached the point of mailing
    warnings = [line for line in printed.splitlines() if WARNING.search(line)]
    assert not warnings, "\n".join(warnings)
