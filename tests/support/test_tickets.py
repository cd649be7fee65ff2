"""Support tickets as their requester sees them: opening, writing, mail both ways, the
requester's list, sanitised Markdown, and the abuse bounds (sizes, tickets a day, messages a
ticket, another person's ticket or organization NOT_FOUND)."""

from __future__ import annotations

import pytest

from models.orgs import Role
from models.support import SupportMessage, SupportTicket, TicketStatus
from tests.conftest import Api, error_code, errors_of
from tests.smtp import body_of
from tests.support.conftest import (
    MESSAGES_A_TICKET,
    MINE,
    NODE,
    OPEN,
    REPLY,
    TICKETS_A_DAY,
    Cast,
    open_ticket,
)

STAFF_MAILBOX = "help-desk@relleks.example"


async def test_opening_a_ticket_lists_it_and_mails_staff(api: Api, cast: Cast) -> None:
    first = await open_ticket(api, cast.requester, subject="First one", body="Hello there")
    second = await open_ticket(api, cast.requester, category="DELETION",
                               subject="Erase me <please>", body="All of it.")
    assert first["status"] == "OPEN" and first["messageCount"] == 1
    assert first["requester"]["name"] == "Rita Requester"
    assert first["organizationId"] is None
    assert first["messages"]["nodes"] == [{
        "id": first["messages"]["nodes"][0]["id"], "body": "Hello there",
        "bodyHtml": "<p>Hello there</p>", "format": "PLAIN", "fromStaff": False}]
    body = await api.gql(MINE, token=cast.requester.token)
    tickets = body["data"]["me"]["supportTickets"]
    assert tickets["totalCount"] == 2
    assert [t["id"] for t in tickets["nodes"]] == [second["id"], first["id"]]  # newest first
    assert tickets["nodes"][0]["category"] == "DELETION"
    # Staff's mailbox gets one mail per ticket, naming its category, never what was typed.
    assert api.inbox is not None
    mails = api.inbox.to(STAFF_MAILBOX)
    assert len(mails) == 2
    assert "DELETION" in str(mails[1]["Subject"])
    assert "Erase me" not in str(mails[1]["Subject"]) + body_of(mails[1])
    assert f"http://testserver/support/tickets/{second['id']}" in body_of(mails[1])


async def test_the_requester_replies_and_staff_are_mailed(api: Api, cast: Cast) -> None:
    ticket = await open_ticket(api, cast.requester)
    assert api.inbox is not None
    api.inbox.messages.clear()
    body = await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "More detail."}},
                         token=cast.requester.token)
    assert "errors" not in body, body
    reply = body["data"]["replyToTicket"]
    assert reply["ticket"]["status"] == "WAITING_ON_SUPPORT"
    assert reply["ticket"]["messageCount"] == 2
    assert reply["message"]["fromStaff"] is False
    assert len(api.inbox.to(STAFF_MAILBOX, "answered a support ticket")) == 1
    assert api.inbox.to(cast.requester.email) == []


async def test_a_ticket_may_name_one_of_the_requesters_organizations(api: Api,
                                                                     cast: Cast) -> None:
    owner = cast.team.people[Role.OWNER]
    ticket = await open_ticket(api, owner, organizationId=cast.team.org_id)
    assert ticket["organizationId"] == cast.team.org_id
    body = await api.gql(OPEN, {"input": {"category": "BUG", "subject": "x", "body": "y",
                                          "organizationId": cast.team.org_id}},
                         token=cast.stranger.token)
    assert error_code(body) == "NOT_FOUND"
    assert errors_of(body)[0]["extensions"]["field"] == "organizationId"
    assert await SupportTicket.filter(requester_id=cast.stranger.user.id).count() == 0


async def test_markdown_is_rendered_and_sanitised(api: Api, cast: Cast) -> None:
    text = ("**bold** and <script>alert(1)</script> "
            "[bad](javascript:alert(1)) [good](https://example.com/a)\n\n"
            '<img src=x onerror="alert(2)">')
    ticket = await open_ticket(api, cast.requester, body=text, format="MARKDOWN")
    html = ticket["messages"]["nodes"][0]["bodyHtml"]
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "<img" not in html
    assert "href=\"javascript" not in html and "<a href=\"javascript" not in html
    assert '<a href="https://example.com/a" rel="noopener noreferrer nofollow">good</a>' in html
    assert ticket["messages"]["nodes"][0]["body"] == text
    plain = await open_ticket(api, cast.requester, body="<b>hi</b>\nthere")
    assert plain["messages"]["nodes"][0]["bodyHtml"] == "<p>&lt;b&gt;hi&lt;/b&gt;<br>there</p>"


@pytest.mark.parametrize(("fields", "bad"), [
    ({"subject": "s" * 201}, "subject"),
    ({"subject": "  "}, "subject"),
    ({"body": "b" * 10_001}, "body"),
    ({"body": " \n "}, "body"),
    ({"body": "hidden\u200bcharacter"}, "body"),
])
async def test_sizes_are_bounded(api: Api, cast: Cast, fields: dict[str, str],
                                 bad: str) -> None:
    body = await api.gql(OPEN, {"input": {"category": "QUESTION", "subject": "ok",
                                          "body": "ok", **fields}}, token=cast.requester.token)
    assert error_code(body) == "BAD_USER_INPUT"
    assert bad in errors_of(body)[0]["extensions"]["fields"]
    assert await SupportTicket.all().count() == 0


async def test_tickets_a_day_are_limited(api: Api, cast: Cast) -> None:
    for _ in range(TICKETS_A_DAY):
        await open_ticket(api, cast.requester)
    body = await api.gql(OPEN, {"input": {"category": "QUESTION", "subject": "again",
                                          "body": "again"}}, token=cast.requester.token)
    assert error_code(body) == "RATE_LIMITED"
    assert errors_of(body)[0]["extensions"]["reason"] == "SUPPORT_TICKETS"
    assert await SupportTicket.all().count() == TICKETS_A_DAY
    # Another person has their own budget.
    await open_ticket(api, cast.stranger)


async def test_a_ticket_holds_a_bounded_number_of_messages(api: Api, cast: Cast) -> None:
    ticket = await open_ticket(api, cast.requester)
    for _ in range(MESSAGES_A_TICKET - 1):
        body = await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "more"}},
                             token=cast.requester.token)
        assert "errors" not in body, body
    body = await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "too many"}},
                         token=cast.requester.token)
    assert error_code(body) == "CONFLICT"
    assert errors_of(body)[0]["extensions"]["reason"] == "TICKET_FULL"
    assert await SupportMessage.all().count() == MESSAGES_A_TICKET
    stored = await SupportTicket.get()
    assert stored.message_count == MESSAGES_A_TICKET


async def test_another_persons_ticket_is_not_found(api: Api, cast: Cast) -> None:
    ticket = await open_ticket(api, cast.requester, subject="Private matter")
    body = await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "let me in"}},
                         token=cast.stranger.token)
    assert error_code(body) == "NOT_FOUND"
    assert errors_of(body)[0]["extensions"]["field"] == "ticketId"
    body = await api.gql(NODE, {"id": ticket["id"]}, token=cast.stranger.token)
    assert error_code(body) == "NOT_FOUND" and body["data"] is None
    body = await api.gql(MINE, token=cast.stranger.token)
    assert body["data"]["me"]["supportTickets"]["totalCount"] == 0
    body = await api.gql(NODE, {"id": ticket["id"]}, token=cast.requester.token)
    assert body["data"]["node"]["subject"] == "Private matter"
    # An id of another type is NOT_FOUND too, never a crash.
    body = await api.gql(REPLY, {"input": {"ticketId": cast.team.org_id, "body": "x"}},
                         token=cast.requester.token)
    assert error_code(body) == "NOT_FOUND"
    assert (await SupportTicket.get()).status is TicketStatus.OPEN
    assert await SupportMessage.all().count() == 1
