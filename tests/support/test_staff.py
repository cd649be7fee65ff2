"""Relleks staff: the role comes from the command-line tool only, reaches every ticket through
staff-only fields (the queue, answers, statuses), and reaches no organization's data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.orgs import Role
from models.support import StaffMember
from scripts.staff import UnknownPerson, set_staff
from tests.conftest import Api, error_code, errors_of
from tests.smtp import body_of
from tests.support.conftest import MINE, NODE, QUEUE, REPLY, SET_STATUS, Cast, open_ticket

LEADS = """query($slug: String!) { organization(slug: $slug) {
  leads(first: 5) { nodes { id name } } } }"""
CREATE_LEAD = "mutation($input: CreateLeadInput!) { createLead(input: $input) { lead { id } } }"
ROOT = Path(__file__).resolve().parents[2]


async def test_staff_answer_and_the_requester_is_mailed(api: Api, cast: Cast) -> None:
    ticket = await open_ticket(api, cast.requester, subject="Billing question")
    body = await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "**Done**.",
                                           "format": "MARKDOWN"}}, token=cast.staff.token)
    assert "errors" not in body, body
    reply = body["data"]["replyToTicket"]
    assert reply["message"]["fromStaff"] is True
    assert reply["message"]["bodyHtml"] == "<p><strong>Done</strong>.</p>\n"
    assert reply["ticket"]["status"] == "WAITING_ON_CUSTOMER"
    assert api.inbox is not None
    (mail,) = api.inbox.to(cast.requester.email, "answered your request")
    assert "Billing question" not in body_of(mail)
    assert f"/support/tickets/{ticket['id']}" in body_of(mail)
    # The requester sees the answer in their ticket.
    body = await api.gql(MINE, token=cast.requester.token)
    messages = body["data"]["me"]["supportTickets"]["nodes"][0]["messages"]["nodes"]
    assert [m["fromStaff"] for m in messages] == [False, True]


async def test_the_queue_filters_by_status_and_staff_set_it(api: Api, cast: Cast) -> None:
    first = await open_ticket(api, cast.requester, subject="One")
    second = await open_ticket(api, cast.stranger, subject="Two")
    body = await api.gql(QUEUE, token=cast.staff.token)
    queue = body["data"]["supportQueue"]
    assert queue["totalCount"] == 2
    assert [t["id"] for t in queue["nodes"]] == [first["id"], second["id"]]  # oldest first
    body = await api.gql(SET_STATUS, {"input": {"ticketId": first["id"], "status": "RESOLVED"}},
                         token=cast.staff.token)
    assert body["data"]["setTicketStatus"]["ticket"]["status"] == "RESOLVED"
    body = await api.gql(QUEUE, {"status": "RESOLVED"}, token=cast.staff.token)
    assert [t["id"] for t in body["data"]["supportQueue"]["nodes"]] == [first["id"]]
    body = await api.gql(QUEUE, {"status": "OPEN"}, token=cast.staff.token)
    assert [t["id"] for t in body["data"]["supportQueue"]["nodes"]] == [second["id"]]
    # A reply by the requester reopens a resolved ticket.
    body = await api.gql(REPLY, {"input": {"ticketId": first["id"], "body": "Not quite."}},
                         token=cast.requester.token)
    assert body["data"]["replyToTicket"]["ticket"]["status"] == "WAITING_ON_SUPPORT"
    # Staff reach any ticket by node id.
    body = await api.gql(NODE, {"id": second["id"]}, token=cast.staff.token)
    assert body["data"]["node"]["subject"] == "Two"


async def test_staff_only_fields_refuse_everyone_else(api: Api, cast: Cast) -> None:
    ticket = await open_ticket(api, cast.requester)
    for person in (cast.requester, cast.stranger, cast.team.people[Role.OWNER]):
        body = await api.gql(QUEUE, token=person.token)
        assert error_code(body) == "FORBIDDEN"
        assert errors_of(body)[0]["extensions"]["reason"] == "STAFF_ONLY"
        body = await api.gql(SET_STATUS, {"input": {"ticketId": ticket["id"],
                                                    "status": "RESOLVED"}}, token=person.token)
        assert error_code(body) == "FORBIDDEN"
    body = await api.gql(QUEUE)
    assert error_code(body) == "UNAUTHENTICATED"


async def test_the_staff_role_shows_no_tenant_data(api: Api, cast: Cast) -> None:
    owner = cast.team.people[Role.OWNER]
    body = await api.gql(CREATE_LEAD, {"input": {"organizationId": cast.team.org_id,
                                                 "name": "Lee"}}, token=owner.token)
    assert "errors" not in body, body
    body = await api.gql(LEADS, {"slug": cast.team.slug}, token=owner.token)
    assert len(body["data"]["organization"]["leads"]["nodes"]) == 1
    body = await api.gql(LEADS, {"slug": cast.team.slug}, token=cast.staff.token)
    assert error_code(body) == "NOT_FOUND"
    assert body["data"]["organization"] is None


async def test_revoking_the_role_ends_staff_access(api: Api, cast: Cast) -> None:
    ticket = await open_ticket(api, cast.requester)
    assert await set_staff(cast.staff.email, staff=False)
    assert not await set_staff(cast.staff.email, staff=False)  # nothing more to take
    body = await api.gql(QUEUE, token=cast.staff.token)
    assert error_code(body) == "FORBIDDEN"
    body = await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "still?"}},
                         token=cast.staff.token)
    assert error_code(body) == "NOT_FOUND"
    with pytest.raises(UnknownPerson):
        await set_staff("nobody@example.com", staff=True)
    assert await StaffMember.all().count() == 0


@pytest.mark.no_db
def test_the_command_line_tool_refuses_an_unknown_action() -> None:
    done = subprocess.run([sys.executable, "-m", "scripts.staff", "promote", "a@b.example"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "RELLEKS_ENV": "test"})
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
