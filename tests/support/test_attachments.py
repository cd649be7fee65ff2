"""Files attached to support messages: sniffed types against the allow-list, the size and count
bounds, encryption at rest, and the download route (requester and staff only, as an attachment,
`nosniff`), with the abuse cases: a file too large, too many, an executable or an HTML page
named `.png`, another person's attachment, no credential."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from models.orgs import Role
from models.support import SupportAttachment, SupportMessage, SupportTicket
from resolvers.support_attachments import clean_name
from tests.conftest import Api, count_sql, error_code, errors_of
from tests.support.attachments import (
    ELF,
    EXE,
    HTML,
    OPEN_WITH_FILES,
    PDF,
    REPLY_WITH_FILES,
    SVG,
    download,
    png,
    send,
)
from tests.support.conftest import Cast
from tests.tokens.conftest import make_token
from web.support import content_disposition

MAX_BYTES = 64 * 1024
PER_MESSAGE = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, support_attachment_max_bytes=MAX_BYTES,
                               support_attachments_per_message=PER_MESSAGE)


def stored_files(media_root: Path) -> list[Path]:
    folder = media_root / "support"
    return sorted(folder.iterdir()) if folder.exists() else []


async def open_with(http: httpx.AsyncClient, who: Any, files: list[tuple[str, bytes, str]],
                    **fields: Any) -> dict[str, Any]:
    return await send(http, OPEN_WITH_FILES, {"category": "BUG", "subject": "It broke",
                                              "body": "See the files.", **fields},
                      files, token=who.token)


async def test_attachments_are_sniffed_stored_encrypted_and_served(
        http: httpx.AsyncClient, api: Api, cast: Cast, media_root: Path) -> None:
    image = png()
    table = b"name,email\nAda,ada@example.com\n"
    body = await open_with(http, cast.requester, [
        ("screen.png", image, "image/png"),
        # Claimed types and names are not trusted: the content decides.
        ("report", PDF, "application/octet-stream"),
        ("../../etc/people.csv", table, "application/vnd.ms-excel"),
    ])
    assert "errors" not in body, body
    message = body["data"]["openSupportTicket"]["ticket"]["messages"]["nodes"][0]
    files = message["attachments"]
    assert [(f["filename"], f["contentType"], f["size"]) for f in files] == [
        ("screen.png", "image/png", len(image)),
        ("report", "application/pdf", len(PDF)),
        ("people.csv", "text/csv; charset=utf-8", len(table))]
    assert files[0]["sha256"] == hashlib.sha256(image).hexdigest()

    # At rest: neither the bytes nor the name are readable in storage or the database.
    on_disk = stored_files(media_root)
    assert len(on_disk) == 3
    for path in on_disk:
        raw = path.read_bytes()
        assert raw.startswith(b"RLKE1")
        assert image not in raw and PDF not in raw and b"ada@example.com" not in raw
    rows = await SupportAttachment.all().values("filename", "storage_key")
    assert all(row["filename"].startswith("enc:v1:") for row in rows)
    assert all(row["storage_key"].startswith("support/") for row in rows)
    # The media route never serves them, even by their key.
    response = await http.get(f"/media/{rows[0]['storage_key']}")
    assert response.status_code == 404

    # The requester downloads each, as an attachment, with the sniffed type and nosniff.
    response = await download(http, files[0]["downloadUrl"], cast.requester.token)
    assert response.status_code == 200
    assert response.content == image
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="screen.png"')
    assert "no-store" in response.headers["cache-control"]
    response = await download(http, files[2]["downloadUrl"], cast.requester.token)
    assert response.content == table
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    # Staff too.
    response = await download(http, files[1]["downloadUrl"], cast.staff.token)
    assert response.status_code == 200 and response.content == PDF
    assert response.headers["content-type"] == "application/pdf"


async def test_staff_attach_files_to_an_answer(http: httpx.AsyncClient, api: Api,
                                               cast: Cast) -> None:
    body = await open_with(http, cast.requester, [])
    ticket_id = body["data"]["openSupportTicket"]["ticket"]["id"]
    note = b"Try these steps:\n1. sign out\n2. sign in\n"
    body = await send(http, REPLY_WITH_FILES, {"ticketId": ticket_id, "body": "Here you go"},
                      [("steps.txt", note, "text/plain")], token=cast.staff.token)
    assert "errors" not in body, body
    attachment = body["data"]["replyToTicket"]["message"]["attachments"][0]
    assert attachment["contentType"] == "text/plain; charset=utf-8"
    response = await download(http, attachment["downloadUrl"], cast.requester.token)
    assert response.status_code == 200 and response.content == note
    # The requester's reply with a file; the message is on the ticket.
    body = await send(http, REPLY_WITH_FILES, {"ticketId": ticket_id, "body": "Thanks"},
                      [("rapport \u00e9t\u00e9.pdf", PDF, "application/pdf")],
                      token=cast.requester.token)
    assert "errors" not in body, body
    assert await SupportAttachment.all().count() == 2
    attachment = body["data"]["replyToTicket"]["message"]["attachments"][0]
    assert attachment["filename"] == "rapport \u00e9t\u00e9.pdf"
    response = await download(http, attachment["downloadUrl"], cast.staff.token)
    assert response.headers["content-disposition"] == (
        'attachment; filename="rapport _t_.pdf"; '
        "filename*=UTF-8''rapport%20%C3%A9t%C3%A9.pdf")


async def test_downloads_are_for_the_requester_and_staff_only(
        http: httpx.AsyncClient, api: Api, cast: Cast) -> None:
    body = await open_with(http, cast.requester, [("secret.pdf", PDF, "application/pdf")])
    url = body["data"]["openSupportTicket"]["ticket"]["messages"]["nodes"][0][
        "attachments"][0]["downloadUrl"]
    # Another person: the same 404 as an attachment that does not exist.
    response = await download(http, url, cast.stranger.token)
    assert response.status_code == 404
    assert response.json() == {"error": "No such attachment."}
    assert PDF not in response.content
    # No credential: 401.
    response = await download(http, url, None)
    assert response.status_code == 401
    # A bad token: 401 too.
    response = await download(http, url, "not-a-token")
    assert response.status_code == 401
    # Ids that are not an attachment's: another type's id, garbage, one that does not exist.
    for bad in [cast.team.org_id, "bm90LWFuLWlk", "U3VwcG9ydEF0dGFjaG1lbnQ6eA==", "x" * 300]:
        response = await http.get(f"/support/attachments/{bad}",
                                  headers={"authorization": f"Bearer {cast.requester.token}"})
        assert response.status_code == 404, bad
    # NUL in the link: 400, as on every plain endpoint.
    response = await http.get("/support/attachments/a%00b",
                              headers={"authorization": f"Bearer {cast.requester.token}"})
    assert response.status_code == 400 and "NUL" in response.text


async def test_an_org_tickets_files_are_not_the_orgs(http: httpx.AsyncClient, api: Api,
                                                     cast: Cast) -> None:
    owner, admin = cast.team.people[Role.OWNER], cast.team.people[Role.ADMIN]
    body = await open_with(http, owner, [("invoice.pdf", PDF, "application/pdf")],
                           category="BILLING", organizationId=cast.team.org_id)
    assert "errors" not in body, body
    url = body["data"]["openSupportTicket"]["ticket"]["messages"]["nodes"][0][
        "attachments"][0]["downloadUrl"]
    assert (await download(http, url, owner.token)).content == PDF
    # Another member of the organization the ticket names, even an ADMIN: not found.
    response = await download(http, url, admin.token)
    assert response.status_code == 404 and PDF not in response.content
    # An API token of the organization (not a person): not found either.
    token = await make_token(cast.team, ["org:read"])
    response = await download(http, url, token.secret)
    assert response.status_code == 404


async def test_another_persons_attachment_is_not_found_through_the_api(
        http: httpx.AsyncClient, api: Api, cast: Cast) -> None:
    body = await open_with(http, cast.requester, [("a.png", png(), "image/png")])
    ticket = body["data"]["openSupportTicket"]["ticket"]
    # The stranger cannot reach the ticket, its messages or its files through `node`.
    query = """query($id: ID!) { node(id: $id) { ... on SupportTicket { messages(first: 1) {
      nodes { attachments { downloadUrl } } } } } }"""
    body = await api.gql(query, {"id": ticket["id"]}, token=cast.stranger.token)
    assert error_code(body) == "NOT_FOUND"
    attachment_id = ticket["messages"]["nodes"][0]["attachments"][0]["id"]
    body = await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": attachment_id},
                         token=cast.requester.token)
    assert error_code(body) == "NOT_FOUND"  # attachments are read through their ticket
    # Nor write a message with files into it.
    body = await send(http, REPLY_WITH_FILES, {"ticketId": ticket["id"], "body": "x"},
                      [("b.png", png(), "image/png")], token=cast.stranger.token)
    assert error_code(body) == "NOT_FOUND"
    assert errors_of(body)[0]["extensions"]["field"] == "ticketId"
    assert await SupportAttachment.all().count() == 1


async def test_a_file_too_large_is_refused_and_nothing_is_stored(
        http: httpx.AsyncClient, api: Api, cast: Cast, media_root: Path) -> None:
    big = b"a,b\n" * (MAX_BYTES // 4 + 1)
    body = await open_with(http, cast.requester, [("ok.png", png(), "image/png"),
                                                  ("big.csv", big, "text/csv")])
    assert error_code(body) == "BAD_USER_INPUT"
    error = errors_of(body)[0]["extensions"]
    assert error["reason"] == "ATTACHMENT_TOO_LARGE" and error["limit"] == MAX_BYTES
    assert "attachments.1" in error["fields"]
    assert await SupportTicket.all().count() == 0
    assert await SupportAttachment.all().count() == 0
    assert stored_files(media_root) == []


async def test_the_request_body_limit_still_bounds_everything(
        http: httpx.AsyncClient, api: Api, cast: Cast, settings: Settings) -> None:
    huge = b"x" * (settings.max_upload_bytes + 10)
    response_body = await send(http, OPEN_WITH_FILES, {"category": "BUG", "subject": "s",
                                                       "body": "b"},
                               [("huge.txt", huge, "text/plain")], token=cast.requester.token,
                               expect_status=413)
    assert response_body["errors"][0]["extensions"]["reason"] == "BODY_TOO_LARGE"
    assert await SupportTicket.all().count() == 0


async def test_too_many_files_are_refused(http: httpx.AsyncClient, api: Api, cast: Cast,
                                          media_root: Path) -> None:
    files = [(f"{n}.png", png(), "image/png") for n in range(PER_MESSAGE + 1)]
    body = await open_with(http, cast.requester, files)
    assert error_code(body) == "BAD_USER_INPUT"
    error = errors_of(body)[0]["extensions"]
    assert error["limit"] == PER_MESSAGE and "attachments" in error["fields"]
    assert await SupportTicket.all().count() == 0
    assert stored_files(media_root) == []


@pytest.mark.parametrize(("name", "data", "claimed", "found"), [
    ("photo.png", HTML, "image/png", "markup"),
    ("photo.png", EXE, "image/png", "application/x-msdownload"),
    ("notes.txt", SVG, "text/plain", "markup"),
    ("data.csv", ELF, "text/csv", "application/x-executable"),
    ("doc.pdf", b"PK\x03\x04" + b"\x00" * 60, "application/pdf", "application/zip"),
    ("notes.txt", b"hello\x00world", "text/plain", "unknown"),
    ("notes.txt", "caf\u00e9".encode("latin-1"), "text/plain", "unknown"),
])
async def test_a_disallowed_type_is_refused_whatever_its_name(
        http: httpx.AsyncClient, api: Api, cast: Cast, media_root: Path, name: str,
        data: bytes, claimed: str, found: str) -> None:
    body = await open_with(http, cast.requester, [(name, data, claimed)])
    assert error_code(body) == "BAD_USER_INPUT", body
    error = errors_of(body)[0]["extensions"]
    assert error["reason"] == "ATTACHMENT_TYPE_NOT_ALLOWED"
    assert found in error["fields"]["attachments.0"]
    assert await SupportTicket.all().count() == 0
    assert stored_files(media_root) == []


async def test_a_text_part_instead_of_a_file_is_refused(http: httpx.AsyncClient, api: Api,
                                                        cast: Cast) -> None:
    body = await api.gql("""mutation($input: OpenSupportTicketInput!) {
      openSupportTicket(input: $input) { ticket { id } } }""", {"input": {
        "category": "BUG", "subject": "s", "body": "b", "attachments": ["not a file"]}},
        token=cast.requester.token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert await SupportTicket.all().count() == 0


async def test_messages_and_subjects_are_encrypted_at_rest(http: httpx.AsyncClient, api: Api,
                                                           cast: Cast) -> None:
    body = await open_with(http, cast.requester, [], subject="My IBAN is DE89 3704",
                           body="Call me on +44 20 7946 0958")
    ticket = body["data"]["openSupportTicket"]["ticket"]
    assert ticket["subject"] == "My IBAN is DE89 3704"
    assert ticket["messages"]["nodes"][0]["body"] == "Call me on +44 20 7946 0958"
    raw_ticket = await SupportTicket.all().values("subject")
    raw_message = await SupportMessage.all().values("body", "body_html", "requester_id")
    assert raw_ticket[0]["subject"].startswith("enc:v1:")
    assert raw_message[0]["body"].startswith("enc:v1:")
    assert raw_message[0]["body_html"].startswith("enc:v1:")
    assert "7946" not in str(raw_message) and "IBAN" not in str(raw_ticket)
    assert raw_message[0]["requester_id"] == cast.requester.user.id
    # The longest subject fits once encrypted (the column became text on PostgreSQL).
    longest = await open_with(http, cast.requester, [], subject="s" * 200)
    assert "errors" not in longest, longest
    assert longest["data"]["openSupportTicket"]["ticket"]["subject"] == "s" * 200
    # Staff read them decrypted too.
    body = await api.gql("""query { supportQueue(first: 5) { nodes { subject
      messages(first: 1) { nodes { body } } } } }""", token=cast.staff.token)
    assert {node["subject"] for node in body["data"]["supportQueue"]["nodes"]} == {
        "My IBAN is DE89 3704", "s" * 200}


@pytest.mark.no_db
def test_names_are_cleaned_and_quoted_safely() -> None:
    assert clean_name("C:\\Users\\ada\\..\\passport.png") == "passport.png"
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("evil\u202egnp.exe") == "evilgnp.exe"  # no bidi override
    assert clean_name("line\r\nbreak.txt") == "linebreak.txt"
    assert clean_name("...") == "attachment" and clean_name(None) == "attachment"
    assert len(clean_name("a" * 500 + ".png")) == 200
    assert content_disposition('a"b\\c;d.pdf') == (
        "attachment; filename=\"a_b_c_d.pdf\"; filename*=UTF-8''a%22b%5Cc%3Bd.pdf")


async def test_a_pages_attachments_are_read_in_one_statement(http: httpx.AsyncClient, api: Api,
                                                             cast: Cast) -> None:
    query = """query { me { supportTickets(first: 5) { nodes { messages(first: 20) { nodes {
      body attachments { filename contentType downloadUrl } } } } } } }"""

    async def statements() -> int:
        with count_sql() as sql:
            body = await api.gql(query, token=cast.requester.token)
        assert "errors" not in body, body
        return sum(1 for s in sql.statements if "support_attachments" in s)

    body = await open_with(http, cast.requester, [("a.png", png(), "image/png")])
    ticket_id = body["data"]["openSupportTicket"]["ticket"]["id"]
    assert await statements() == 1
    for n in range(3):
        body = await send(http, REPLY_WITH_FILES, {"ticketId": ticket_id, "body": f"more {n}"},
                          [(f"{n}.png", png(), "image/png"), (f"{n}.pdf", PDF, "application/pdf")],
                          token=cast.requester.token)
        assert "errors" not in body, body
    assert await statements() == 1  # four messages, seven files: still one
