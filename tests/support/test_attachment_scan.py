"""The virus-scan hook against a fake clamd on loopback (`tests/support/fake_clamd.py`, the
INSTREAM protocol): a clean file is accepted after the scan, the EICAR test file is refused
(ATTACHMENT_INFECTED) and stored nowhere, and a scanner that is down refuses the message
(UNAVAILABLE, VIRUS_SCANNER_UNAVAILABLE): fail closed."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from models.support import SupportAttachment, SupportMessage, SupportTicket
from services.virus_scan import ScannerUnavailable, parse_reply
from tests.conftest import Api, error_code, errors_of
from tests.support.attachments import OPEN_WITH_FILES, REPLY_WITH_FILES, png, send
from tests.support.conftest import Cast, open_ticket
from tests.support.fake_clamd import EICAR, FakeClamd


@pytest.fixture
async def clamd() -> AsyncIterator[FakeClamd]:
    server = await FakeClamd().start()
    yield server
    await server.stop()


@pytest.fixture
def settings(settings: Settings, clamd: FakeClamd) -> Settings:
    return dataclasses.replace(settings, virus_scanner_url=clamd.url, virus_scanner_timeout=1.0)


def stored(media_root: Path) -> list[Path]:
    folder = media_root / "support"
    return list(folder.iterdir()) if folder.exists() else []


async def test_a_clean_file_is_scanned_then_accepted(http: httpx.AsyncClient, api: Api,
                                                     cast: Cast, clamd: FakeClamd,
                                                     media_root: Path) -> None:
    image = png((300, 300))
    body = await send(http, OPEN_WITH_FILES, {"category": "BUG", "subject": "s", "body": "b"},
                      [("a.png", image, "image/png")], token=cast.requester.token)
    assert "errors" not in body, body
    assert clamd.commands == [b"zINSTREAM\0"]
    assert clamd.scanned == [image]  # the whole file, reassembled from its chunks
    assert await SupportAttachment.all().count() == 1
    assert len(stored(media_root)) == 1


async def test_an_infected_file_is_refused_and_stored_nowhere(
        http: httpx.AsyncClient, api: Api, cast: Cast, clamd: FakeClamd,
        media_root: Path) -> None:
    ticket = await open_ticket(api, cast.requester)
    body = await send(http, REPLY_WITH_FILES, {"ticketId": ticket["id"], "body": "see file"},
                      [("fine.png", png(), "image/png"), ("eicar.txt", EICAR, "text/plain")],
                      token=cast.requester.token)
    assert error_code(body) == "BAD_USER_INPUT"
    error = errors_of(body)[0]["extensions"]
    assert error["reason"] == "ATTACHMENT_INFECTED"
    assert error["signature"] == "Eicar-Test-Signature"
    assert "attachments.1" in error["fields"]
    assert len(clamd.scanned) == 2
    # Nothing of the message was kept: no message, no attachment row, no file.
    assert await SupportMessage.all().count() == 1
    assert await SupportAttachment.all().count() == 0
    assert stored(media_root) == []
    assert (await SupportTicket.get()).message_count == 1


async def test_a_scanner_that_is_down_refuses_uploads(
        http: httpx.AsyncClient, api: Api, cast: Cast, clamd: FakeClamd,
        media_root: Path) -> None:
    await clamd.stop()  # its port now refuses connections
    body = await send(http, OPEN_WITH_FILES, {"category": "BUG", "subject": "s", "body": "b"},
                      [("a.png", png(), "image/png")], token=cast.requester.token)
    assert error_code(body) == "UNAVAILABLE"
    assert errors_of(body)[0]["extensions"]["reason"] == "VIRUS_SCANNER_UNAVAILABLE"
    assert await SupportTicket.all().count() == 0
    assert stored(media_root) == []
    # A message without files needs no scanner.
    ticket = await open_ticket(api, cast.requester)
    assert ticket["status"] == "OPEN"


async def test_a_scanner_that_never_answers_fails_closed(
        http: httpx.AsyncClient, api: Api, cast: Cast, clamd: FakeClamd) -> None:
    clamd.silent = True  # reads the stream, never answers: the timeout (1 s here) ends it
    body = await send(http, OPEN_WITH_FILES, {"category": "BUG", "subject": "s", "body": "b"},
                      [("a.png", png(), "image/png")], token=cast.requester.token)
    assert error_code(body) == "UNAVAILABLE"
    assert errors_of(body)[0]["extensions"]["reason"] == "VIRUS_SCANNER_UNAVAILABLE"
    assert await SupportTicket.all().count() == 0


@pytest.mark.no_db
def test_replies_other_than_ok_or_found_are_not_a_pass() -> None:
    assert parse_reply(b"stream: OK\0").clean
    verdict = parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")
    assert not verdict.clean and verdict.signature == "Win.Test.EICAR_HDB-1"
    for reply in [b"INSTREAM size limit exceeded. ERROR\0", b"", b"stream: \0",
                  b"stream: OKAY\0"]:
        with pytest.raises(ScannerUnavailable):
            parse_reply(reply)
