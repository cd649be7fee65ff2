"""Fixtures for the help center tests: the org "acme" (a person of each role), a requester
without an org, and a Relleks staff member made by the command-line tool's own function."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from core.settings import Settings
from scripts.staff import set_staff
from tests.conftest import Api
from tests.orgs.conftest import Person, Team, make_team, signed_in

TICKET_FIELDS = """id category subject status messageCount organizationId createdAt
  requester { id name }"""
OPEN = f"""mutation($input: OpenSupportTicketInput!) {{
  openSupportTicket(input: $input) {{ ticket {{ {TICKET_FIELDS}
    messages(first: 10) {{ totalCount nodes {{ id body bodyHtml format fromStaff }} }} }} }} }}"""
REPLY = f"""mutation($input: ReplyToTicketInput!) {{
  replyToTicket(input: $input) {{ ticket {{ {TICKET_FIELDS} }}
    message {{ id body bodyHtml format fromStaff }} }} }}"""
SET_STATUS = f"""mutation($input: SetTicketStatusInput!) {{
  setTicketStatus(input: $input) {{ ticket {{ {TICKET_FIELDS} }} }} }}"""
MINE = f"""query {{ me {{ supportTickets(first: 20) {{ totalCount nodes {{ {TICKET_FIELDS}
  messages(first: 50) {{ totalCount nodes {{ body fromStaff }} }} }} }} }} }}"""
QUEUE = f"""query($status: SupportTicketStatus) {{ supportQueue(first: 50, status: $status) {{
  totalCount nodes {{ {TICKET_FIELDS} messages(first: 50) {{ nodes {{ body fromStaff }} }} }}
}} }}"""
NODE = """query($id: ID!) { node(id: $id) { ... on SupportTicket { id subject } } }"""


TICKETS_A_DAY = 3
MESSAGES_A_TICKET = 4


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, support_ticket_rate_per_user=f"{TICKETS_A_DAY}/day",
                               support_messages_per_ticket=MESSAGES_A_TICKET,
                               support_mailbox="help-desk@relleks.example")


@dataclass
class Cast:
    team: Team
    requester: Person
    staff: Person
    stranger: Person


@pytest.fixture
async def cast(api: Api, settings: Settings) -> Cast:
    team = await make_team(api, settings, "acme")
    requester = await signed_in(settings, "rita@example.com", "Rita Requester")
    staff = await signed_in(settings, "sam@relleks.example", "Sam Staff")
    assert await set_staff("Sam@Relleks.example", staff=True)
    stranger = await signed_in(settings, "stan@example.com", "Stan Stranger")
    assert api.inbox is not None
    api.inbox.messages.clear()
    return Cast(team=team, requester=requester, staff=staff, stranger=stranger)


async def open_ticket(api: Api, who: Person, **fields: Any) -> dict[str, Any]:
    body = await api.gql(OPEN, {"input": {"category": "QUESTION", "subject": "How do I?",
                                          "body": "Please help.", **fields}}, token=who.token)
    assert "errors" not in body, body
    return body["data"]["openSupportTicket"]["ticket"]
