"""Mail in development: without `SMTP_URL` (`make run`) a real server process prints each mail
to stderr as one readable block, its link on a line of its own, so that a developer can copy the
sign-up link as the README says; the JSON logs on stdout stay one object per line and never
hold the body or its token.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests import serving

pytestmark = pytest.mark.no_db

SIGN_UP = """mutation SignUp($input: SignUpInput!) { signUp(input: $input) { email message } }"""
CONFIRM = """mutation Confirm($input: ConfirmSignUpInput!) {
  confirmSignUp(input: $input) { accessToken user { email } } }"""
RULE = "=" * 72


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A server started as `make run` starts it: development, no SMTP_URL, a migrated database."""
    tmp = tmp_path_factory.mktemp("console-mail")
    with serving.served(tmp, migrated=True, RELLEKS_ENV="development", LOG_LEVEL="INFO") as port:
        yield port, tmp


def _printed(err: Path, what: str) -> str:
    """stderr once `what` is in it (the mail goes out after the response)."""
    deadline = time.monotonic() + 20
    while what not in (text := err.read_text()):
        assert time.monotonic() < deadline, text[-3000:]
        time.sleep(0.1)
    return text


def test_a_mail_is_printed_as_one_readable_block_with_its_link_on_its_own_line(
        server: tuple[int, Path]) -> None:
    port, tmp = server
    base = f"http://127.0.0.1:{port}"
    answer = httpx.post(f"{base}/graphql", timeout=30, json={"query": SIGN_UP, "variables": {
        "input": {"email": "ada@example.com", "password": "plum-orbit-canvas-87-tide",
                  "name": "Ada Lovelace", "birthDate": "1990-05-17", "acceptTerms": True}}})
    assert answer.json()["data"]["signUp"]["email"] == "ada@example.com", answer.text

    err = _printed(tmp / "server.err", RULE + "\n")
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("==== Mail "))
    block = lines[start:lines.index(RULE, start) + 1]
    assert block[0] == "==== Mail (not sent: SMTP_URL is unset) " + "=" * 32
    assert block[1:5] == ["From: Relleks <no-reply@relleks.test>", "To: ada@example.com",
                          "Subject: Confirm your email address to finish signing up for Relleks",
                          ""]
    assert block[5] == "Hello,"
    links = [line for line in block if "://" in line]
    assert len(links) == 1
    (link,) = links
    assert re.fullmatch(rf"{re.escape(base)}/confirm-sign-up\?token=rlk_su_\S+", link), link
    assert block[-1] == RULE and block[-2] == "-- Relleks"

    # The link works as printed: the token in it finishes the sign-up.
    (token,) = parse_qs(urlsplit(link).query)["token"]
    confirmed = httpx.post(f"{base}/graphql", timeout=30, json={
        "query": CONFIRM, "variables": {"input": {"token": token}}}).json()
    assert confirmed["data"]["confirmSignUp"]["user"]["email"] == "ada@example.com", confirmed

    # stdout stays structured: one JSON object per line, a `mail.printed` event without the
    # body, the address or the token.
    out = (tmp / "server.log").read_text()
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [e["subject"] for e in events if e["event"] == "mail.printed"] == [
        "Confirm your email address to finish signing up for Relleks"]
    assert token not in out and "ada@example.com" not in out and "Hello," not in out
