"""A client that goes away before its request body has arrived (a proxy's timeout, a closed tab,
a benchmark tool stopping mid-request) is not an error of the API: over real HTTP to a server
run as production runs it, such a request is logged at info as `request.client_disconnected`,
counted in `relleks_http_client_disconnects_total`, not as an INTERNAL error, sends nothing to
Sentry, and leaves an access log line with status 499. A genuine INTERNAL error on the same
server still reaches Sentry (the control that error reports are on).

Raw sockets: an HTTP client does not send half a body and hang up.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import serving
from tests.metrics.conftest import METRICS_TOKEN, parse, value
from tests.sentry_ingest import SentryIngest

pytestmark = pytest.mark.no_db

BOUNDARY = "relleks-boundary"


def half_a_request(port: int, content_type: str, body: bytes, declared: int) -> None:
    """Headers announcing `declared` bytes, `body` (fewer), then the connection closed."""
    head = (f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {declared}\r\nX-Request-ID: gone-{declared}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        time.sleep(0.2)  # the server has started reading the body


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def wait_for(path: Path, count: int, event: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        lines = [line for line in log_lines(path) if line.get("event") == event]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_a_client_gone_mid_body_is_not_an_error(tmp_path: Path) -> None:
    with SentryIngest() as ingest, serving.served(
            tmp_path, RELLEKS_ENV="test", LOG_LEVEL="INFO", METRICS_TOKEN=METRICS_TOKEN,
            SENTRY_DSN=ingest.dsn) as port:
        half_a_request(port, "application/json", b'{"query": "{ me { id', 4000)
        multipart = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"operations\""
                     f"\r\n\r\n{{\"query\": ").encode()
        half_a_request(port, f"multipart/form-data; boundary={BOUNDARY}", multipart, 90000)
        # The control: a genuine INTERNAL error (this database has no tables) is reported.
        control = httpx.post(f"http://127.0.0.1:{port}/graphql", headers={
            "x-request-id": "control-internal-1"}, json={
            "query": "mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }",
            "variables": {"input": {"email": "a@example.com", "password": "x" * 12}}})
        assert control.json()["errors"][0]["extensions"]["code"] == "INTERNAL", control.text
        gone = wait_for(tmp_path / "server.log", 2, "request.client_disconnected")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                event["tags"]["where"] == "request" for event in ingest.events()):
            time.sleep(0.1)
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics",
                           headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        assert scrape.status_code == 200, scrape.text
        samples = parse(scrape.text)
        # Still serving.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    lines = log_lines(tmp_path / "server.log")

    assert sorted(line["request_id"] for line in gone) == ["gone-4000", "gone-90000"]
    assert {line["level"] for line in gone} == {"info"}
    assert {line["method"] for line in gone} == {"POST"}
    assert not [line for line in lines if line["event"] == "request.internal_error"]
    access = {line["request_id"]: line for line in lines if line["event"] == "request"}
    assert access["gone-4000"]["status"] == 499 and access["gone-90000"]["status"] == 499
    assert access["control-internal-1"]["status"] == 200

    assert value(samples, "relleks_http_client_disconnects_total") == 2
    # One INTERNAL error: the control's.
    assert value(samples, "relleks_graphql_errors_total", code="INTERNAL") == 1

    # (The in-process job sweep fails on this empty database too: those events say `job`.)
    events = [event for event in ingest.events() if event["tags"]["where"] == "request"]
    assert [event["tags"]["request_id"] for event in events] == ["control-internal-1"], events
    assert "ClientDisconnect" not in ingest.raw()
