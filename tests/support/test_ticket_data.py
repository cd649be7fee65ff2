"""Support tickets as the requester's personal data: in their own data export (tickets,
messages, the list of attached files), deleted by the retention sweep a year after they were
resolved (files included), erased with the account (the person's key destroyed first), and
rows from before encryption encrypted by `jobs.encryption.encrypt_support`."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tortoise import connections

from core.settings import Settings
from jobs.encryption import encrypt_support
from jobs.retention import RESOLVED_TICKETS, apply_retention
from keystore.models import DataKey, KeyState
from models.accounts import User
from models.jobs import ScheduledWork, WorkKind
from models.support import SupportAttachment, SupportMessage, SupportTicket
from tests.conftest import STRONG_PASSWORD, Api
from tests.encryption.conftest import raw_rows
from tests.privacy.conftest import (
    data_json,
    pass_grace_period,
    run_due_work,
    run_jobs,
    services_of,
    unzip,
)
from tests.privacy.conftest import download as download_export
from tests.support.attachments import OPEN_WITH_FILES, PDF, REPLY_WITH_FILES, png, send
from tests.support.conftest import NODE, SET_STATUS, Cast, open_ticket


def relay_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


def relay_gid(type_name: str, row_id: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, jobs_in_process=False, jobs_retry_wait=0,
                               jobs_max_attempts=2)


def stored(media_root: Path) -> set[str]:
    folder = media_root / "support"
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


async def ticket_with_files(http: httpx.AsyncClient, cast: Cast, subject: str) -> str:
    body = await send(http, OPEN_WITH_FILES, {"category": "ACCESS", "subject": subject,
                                              "body": "All my data, please."},
                      [("id-card.png", png(), "image/png")], token=cast.requester.token)
    assert "errors" not in body, body
    ticket_id: str = body["data"]["openSupportTicket"]["ticket"]["id"]
    body = await send(http, REPLY_WITH_FILES, {"ticketId": ticket_id, "body": "On its way."},
                      [("how-to.pdf", PDF, "application/pdf")], token=cast.staff.token)
    assert "errors" not in body, body
    return ticket_id


async def test_tickets_are_in_the_requesters_own_export(
        http: httpx.AsyncClient, api: Api, app: Any, cast: Cast) -> None:
    ticket_id = await ticket_with_files(http, cast, "Copy of my data")
    await open_ticket(api, cast.stranger, subject="Someone else's")
    body = await api.gql("mutation { requestDataExport { dataExport { id } } }",
                         token=cast.requester.token)
    assert "errors" not in body, body
    await run_jobs(app)
    body = await api.gql("{ me { dataExports { nodes { downloadUrl } } } }",
                         token=cast.requester.token)
    url = body["data"]["me"]["dataExports"]["nodes"][0]["downloadUrl"]
    response = await download_export(http, url)
    assert response.status_code == 200
    data = data_json(unzip(response.content))
    (ticket,) = data["supportTickets"]  # theirs only
    assert ticket["id"] == str(uuid.UUID(relay_id(ticket_id)))
    assert ticket["subject"] == "Copy of my data" and ticket["category"] == "access"
    assert [(m["fromStaff"], m["body"]) for m in ticket["messages"]] == [
        (False, "All my data, please."), (True, "On its way.")]
    first, answer = ticket["messages"]
    assert [(f["filename"], f["contentType"], f["size"]) for f in first["attachments"]] == [
        ("id-card.png", "image/png", len(png()))]
    assert answer["attachments"][0]["filename"] == "how-to.pdf"
    assert "author" not in str(answer) and cast.staff.email not in str(data["supportTickets"])


async def test_resolved_tickets_go_a_year_after_resolution(
        http: httpx.AsyncClient, api: Api, app: Any, cast: Cast, media_root: Path) -> None:
    old = await ticket_with_files(http, cast, "Old one")
    recent = await ticket_with_files(http, cast, "Recent one")
    still_open = await ticket_with_files(http, cast, "Still open")
    for ticket_id in (old, recent):
        body = await api.gql(SET_STATUS, {"input": {"ticketId": ticket_id,
                                                    "status": "RESOLVED"}},
                             token=cast.staff.token)
        assert body["data"]["setTicketStatus"]["ticket"]["status"] == "RESOLVED"
    now = datetime.now(UTC)
    old_uuid = uuid.UUID(relay_id(old))
    await SupportTicket.filter(id=old_uuid).update(
        resolved_at=now - RESOLVED_TICKETS - timedelta(days=1))
    await SupportTicket.filter(id=uuid.UUID(relay_id(recent))).update(
        resolved_at=now - RESOLVED_TICKETS + timedelta(days=1))
    await SupportTicket.filter(id=uuid.UUID(relay_id(still_open))).update(
        created_at=now - timedelta(days=800))
    old_files = {key.removeprefix("support/") for key in await SupportAttachment.filter(
        ticket_id=old_uuid).values_list("storage_key", flat=True)}
    assert len(old_files) == 2 and old_files <= stored(media_root)

    report = await apply_retention(services_of(app), now)
    assert report.deleted["support_tickets"] == 1
    assert not await SupportTicket.exists(id=old_uuid)
    assert await SupportMessage.filter(ticket_id=old_uuid).count() == 0
    assert await SupportAttachment.filter(ticket_id=old_uuid).count() == 0
    assert not old_files & stored(media_root)
    assert len(stored(media_root)) == 4  # the other two tickets' files
    body = await api.gql(NODE, {"id": recent}, token=cast.requester.token)
    assert body["data"]["node"]["subject"] == "Recent one"
    # A reply reopens a resolved ticket: its clock stops.
    body = await api.gql("""mutation($input: ReplyToTicketInput!) { replyToTicket(input: $input)
      { ticket { status } } }""", {"input": {"ticketId": recent, "body": "One more thing"}},
        token=cast.requester.token)
    assert body["data"]["replyToTicket"]["ticket"]["status"] == "WAITING_ON_SUPPORT"
    assert (await SupportTicket.get(id=uuid.UUID(relay_id(recent)))).resolved_at is None
    # Run again: nothing more is due.
    assert (await apply_retention(services_of(app), now)).deleted["support_tickets"] == 0


async def test_deleting_the_account_erases_its_tickets_and_shreds_their_key(
        http: httpx.AsyncClient, api: Api, app: Any, cast: Cast, media_root: Path) -> None:
    ticket_id = await ticket_with_files(http, cast, "Delete me")
    # Staff's answer in another person's ticket stays when staff's account goes (unnamed).
    other = await open_ticket(api, cast.stranger, subject="Stranger's")
    body = await api.gql("""mutation($input: ReplyToTicketInput!) { replyToTicket(input: $input)
      { message { id } } }""", {"input": {"ticketId": other["id"], "body": "Answered"}},
        token=cast.staff.token)
    assert "errors" not in body, body
    requester_id = cast.requester.user.id
    assert await DataKey.filter(organization_id=requester_id).count() == 1
    assert len(stored(media_root)) == 2

    body = await api.gql("""mutation($p: String!) { deleteAccount(input: {password: $p}) {
      scheduledDeletion { status } } }""", {"p": STRONG_PASSWORD}, token=cast.requester.token)
    assert body["data"]["deleteAccount"]["scheduledDeletion"]["status"] == "PENDING"
    (work,) = await ScheduledWork.filter(kind=WorkKind.ACCOUNT_DELETION)
    await pass_grace_period(work.id)
    await run_due_work(app)

    assert not await User.exists(id=requester_id)
    ticket_uuid = uuid.UUID(relay_id(ticket_id))
    assert not await SupportTicket.exists(id=ticket_uuid)
    assert await SupportMessage.filter(ticket_id=ticket_uuid).count() == 0
    assert await SupportAttachment.filter(requester_id=requester_id).count() == 0
    assert stored(media_root) == set()
    keys = await DataKey.filter(organization_id=requester_id)
    assert keys and all(key.state is KeyState.DESTROYED and key.wrapped is None
                        for key in keys)
    # Others' tickets are untouched.
    body = await api.gql(NODE, {"id": other["id"]}, token=cast.stranger.token)
    assert body["data"]["node"]["subject"] == "Stranger's"


async def test_plain_rows_from_before_encryption_are_encrypted_by_the_job(
        api: Api, cast: Cast) -> None:
    ticket_id, message_id = uuid.uuid4(), uuid.uuid4()
    db = connections.get("default")
    postgres = db.capabilities.dialect == "postgres"
    user_id = cast.requester.user.id
    ticket_values: list[Any] = [ticket_id, user_id, "Plain subject"]
    message_values: list[Any] = [message_id, ticket_id, user_id, "Plain body", "<p>Plain body</p>"]
    if not postgres:
        ticket_values = [str(v) for v in ticket_values]
        message_values = [str(v) for v in message_values]
    marks = (lambda n: ", ".join(f"${i}" for i in range(1, n + 1))) if postgres else \
        (lambda n: ", ".join("?" * n))
    await db.execute_query(
        "INSERT INTO support_tickets (id, requester_id, subject, category, status, "
        f"message_count, created_at, updated_at) VALUES ({marks(3)}, 'question', 'open', 1, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", ticket_values)
    await db.execute_query(
        "INSERT INTO support_messages (id, ticket_id, author_id, body, body_html, from_staff, "
        f"format, created_at) VALUES ({marks(5)}, false, 'plain', CURRENT_TIMESTAMP)",
        message_values)
    gid = relay_gid("SupportTicket", ticket_id)
    query = """query($id: ID!) { node(id: $id) { ... on SupportTicket { subject
      messages(first: 1) { nodes { body bodyHtml } } } } }"""
    body = await api.gql(query, {"id": gid}, token=cast.requester.token)
    assert body["data"]["node"]["subject"] == "Plain subject"  # read as it is meanwhile

    assert await encrypt_support(batch=1) == 2
    (ticket,) = await raw_rows("support_tickets")
    (message,) = await raw_rows("support_messages")
    assert str(ticket["subject"]).startswith("enc:v1:")
    assert str(message["body"]).startswith("enc:v1:")
    assert str(message["body_html"]).startswith("enc:v1:")
    assert str(message["requester_id"]).replace("-", "") == user_id.hex
    body = await api.gql(query, {"id": gid}, token=cast.requester.token)
    assert body["data"]["node"] == {"subject": "Plain subject", "messages": {"nodes": [
        {"body": "Plain body", "bodyHtml": "<p>Plain body</p>"}]}}
    assert await encrypt_support() == 0  # resumed: nothing left
