"""Data-rights tickets run their work after the requester confirms it: the export (ACCESS,
PORTABILITY), the account deletion (DELETION), every optional consent withdrawn (RESTRICTION,
OBJECTION), staff's answer (CORRECTION). The ticket shows the work as the export or deletion
stands, resolves itself when it is done, and shows its legal deadline."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from core.settings import Settings
from models.consents import Consent
from models.jobs import ScheduledWork, WorkKind, WorkStatus
from models.support import SupportMessage, SupportTicket, TicketStatus
from tests.conftest import STRONG_PASSWORD, Api, count_sql, error_code, errors_of
from tests.privacy.conftest import data_json, download, run_jobs, unzip
from tests.smtp import body_of
from tests.support.conftest import Cast, open_ticket

WORK = "work { kind status startedAt finishedAt runsAt dataExport { id status } " \
       "scheduledDeletion { status dueAt } }"
FIELDS = f"id category status dueAt overdue closedAt messageCount {WORK}"
OPEN = f"""mutation($input: OpenSupportTicketInput!) {{
  openSupportTicket(input: $input) {{ ticket {{ {FIELDS} }} }} }}"""
CONFIRM = f"""mutation($input: ConfirmTicketWorkInput!) {{
  confirmTicketWork(input: $input) {{ ticket {{ {FIELDS}
    messages(first: 20) {{ nodes {{ body fromSystem fromStaff }} }} }} }} }}"""
MINE = f"{{ me {{ supportTickets(first: 20) {{ nodes {{ {FIELDS} }} }} }} }}"
QUEUE = "{ supportQueue(first: 50) { totalCount nodes { id category dueAt overdue } } }"
STAFF_VIEW = "{ supportQueue(first: 5) { nodes { work { status dataExport { id } } } } }"
SET_STATUS = """mutation($input: SetTicketStatusInput!) {
  setTicketStatus(input: $input) { ticket { id status closedAt work { status } } } }"""
CANCEL = "mutation { cancelAccountDeletion { scheduledDeletion { status } } }"
LOG_IN = """mutation($e: String!, $p: String!) {
  logIn(input: {email: $e, password: $p}) { accessToken } }"""
CONSENTS = "{ me { consents { kind granted } } }"
SET_CONSENT = """mutation($input: SetConsentInput!) { setConsent(input: $input) {
  consent { kind granted } } }"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Jobs run when the test says (`run_jobs`), as in the export tests."""
    return dataclasses.replace(settings, jobs_in_process=False, jobs_retry_wait=0,
                               jobs_max_attempts=2)


def closed_count() -> float:
    return REGISTRY.get_sample_value("relleks_privacy_request_close_seconds_count",
                                     {"source": "ticket"}) or 0.0


async def open_right(api: Api, who: Any, category: str) -> dict[str, Any]:
    body = await api.gql(OPEN, {"input": {"category": category, "subject": "My data",
                                          "body": "Please."}}, token=who.token)
    assert "errors" not in body, body
    return body["data"]["openSupportTicket"]["ticket"]


async def confirm(api: Api, who: Any, ticket_id: str, **extra: Any) -> dict[str, Any]:
    return await api.gql(CONFIRM, {"input": {"ticketId": ticket_id, **extra}}, token=who.token)


def confirmed(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]["confirmTicketWork"]["ticket"]


@pytest.mark.parametrize("category", ["ACCESS", "PORTABILITY"])
async def test_an_access_ticket_runs_the_export_and_resolves_when_it_is_ready(
        api: Api, http: httpx.AsyncClient, app: Any, cast: Cast, category: str) -> None:
    before = closed_count()
    ticket = await open_right(api, cast.requester, category)
    # Proposed, with its deadline; nothing runs before the requester confirms.
    assert ticket["work"] == {"kind": "PERSONAL_EXPORT", "status": "PROPOSED",
                              "startedAt": None, "finishedAt": None, "runsAt": None,
                              "dataExport": None, "scheduledDeletion": None}
    opened = datetime.fromisoformat(ticket["dueAt"]) - timedelta(days=30)
    assert abs((datetime.now(UTC) - opened).total_seconds()) < 60
    assert ticket["overdue"] is False and ticket["closedAt"] is None
    await run_jobs(app)
    assert await ScheduledWork.all().count() == 0

    done = confirmed(await confirm(api, cast.requester, ticket["id"]))
    assert done["work"]["status"] == "PENDING" and done["work"]["startedAt"]
    assert done["work"]["dataExport"]["status"] == "PENDING"
    assert done["status"] == "OPEN"
    (work,) = await ScheduledWork.filter(kind=WorkKind.USER_EXPORT)
    assert work.user_id == cast.requester.user.id
    # Confirming again starts nothing more.
    again = confirmed(await confirm(api, cast.requester, ticket["id"]))
    assert again["work"]["dataExport"]["id"] == done["work"]["dataExport"]["id"]
    assert await ScheduledWork.filter(kind=WorkKind.USER_EXPORT).count() == 1
    # Staff see the work's status, never the requester's export (nor its link).
    body = await api.gql(STAFF_VIEW, token=cast.staff.token)
    (seen,) = body["data"]["supportQueue"]["nodes"]
    assert seen["work"] == {"status": "PENDING", "dataExport": None}

    assert api.inbox is not None
    api.inbox.messages.clear()
    await run_jobs(app)
    (listed,) = (await api.gql(MINE, token=cast.requester.token))["data"]["me"][
        "supportTickets"]["nodes"]
    assert listed["status"] == "RESOLVED" and listed["closedAt"]
    assert listed["work"]["status"] == "DONE" and listed["work"]["finishedAt"]
    assert listed["work"]["dataExport"]["status"] == "DONE"
    assert listed["overdue"] is False
    system = await SupportMessage.filter(ticket_id=(await SupportTicket.get()).id,
                                         from_system=True).order_by("created_at")
    assert [m.body.split(":")[0] for m in system] == ["You confirmed",
                                                      "Your data export is ready"]
    (mail,) = api.inbox.to(cast.requester.email, f"Your {category} request is done")
    assert "My data" not in body_of(mail)
    assert f"/support/tickets/{ticket['id']}" in body_of(mail)
    # The export's own mail carries the link; the archive holds the ticket itself.
    (ready,) = api.inbox.to(cast.requester.email, "export is ready")
    (link,) = [line.strip() for line in body_of(ready).splitlines() if "/exports/" in line]
    data = data_json(unzip((await download(http, link)).content))
    (exported,) = data["supportTickets"]
    assert exported["category"] == category.lower() and exported["subject"] == "My data"
    assert exported["messages"][0]["body"] == "Please."
    assert exported["messages"][1]["fromSystem"] is True
    assert "author" not in str(exported)
    assert closed_count() == before + 1
    # The job's second run (a duplicate) resolves nothing twice.
    from jobs.sweep import sweep
    from tests.privacy.conftest import services_of
    assert (await sweep(services_of(app))).tickets_settled == 0
    assert closed_count() == before + 1


async def test_the_sweep_resolves_a_ticket_whose_export_finished_unnoticed(
        api: Api, app: Any, cast: Cast) -> None:
    from jobs.sweep import sweep
    from tests.privacy.conftest import services_of

    ticket = await open_right(api, cast.requester, "ACCESS")
    confirmed(await confirm(api, cast.requester, ticket["id"]))
    work = await ScheduledWork.get(kind=WorkKind.USER_EXPORT)
    # As if the job finished and died before telling the ticket.
    await ScheduledWork.filter(id=work.id).update(status=WorkStatus.DONE,
                                                  finished_at=datetime.now(UTC))
    assert (await SupportTicket.get()).status is TicketStatus.OPEN
    assert (await sweep(services_of(app))).tickets_settled == 1
    assert (await SupportTicket.get()).status is TicketStatus.RESOLVED


async def test_a_deletion_ticket_needs_the_password_and_cancelling_reopens_it(
        api: Api, cast: Cast) -> None:
    ticket = await open_right(api, cast.requester, "DELETION")
    assert ticket["work"]["kind"] == "ACCOUNT_DELETION"
    assert ticket["work"]["status"] == "PROPOSED"
    body = await confirm(api, cast.requester, ticket["id"])
    assert error_code(body) == "BAD_USER_INPUT"
    assert "password" in errors_of(body)[0]["extensions"]["fields"]
    body = await confirm(api, cast.requester, ticket["id"], password="not-my-password-at-all")
    assert error_code(body) == "BAD_USER_INPUT"
    assert await ScheduledWork.all().count() == 0
    stored = await SupportTicket.get()
    assert stored.confirmed_at is None and stored.work_id is None

    before = closed_count()
    done = confirmed(await confirm(api, cast.requester, ticket["id"], password=STRONG_PASSWORD))
    # Done for the ticket once the deletion is scheduled: the grace period runs.
    assert done["status"] == "RESOLVED" and done["closedAt"]
    assert done["work"]["status"] == "SCHEDULED"
    assert done["work"]["scheduledDeletion"]["status"] == "PENDING"
    assert done["work"]["runsAt"] == done["work"]["scheduledDeletion"]["dueAt"]
    assert done["messages"]["nodes"][-1]["fromSystem"] is True
    assert "deletion is scheduled" in done["messages"]["nodes"][-1]["body"]
    assert closed_count() == before + 1
    work = await ScheduledWork.get(kind=WorkKind.ACCOUNT_DELETION)
    assert work.user_id == cast.requester.user.id and work.status is WorkStatus.PENDING
    assert api.inbox is not None
    assert api.inbox.to(cast.requester.email, "Your DELETION request is done")

    # The deletion ended the sessions; signing in again and canceling reopens the ticket.
    assert error_code(await api.gql(MINE, token=cast.requester.token)) == "UNAUTHENTICATED"
    login = await api.gql(LOG_IN, {"e": cast.requester.email, "p": STRONG_PASSWORD})
    fresh = login["data"]["logIn"]["accessToken"]
    body = await api.gql(CANCEL, token=fresh)
    assert body["data"]["cancelAccountDeletion"]["scheduledDeletion"]["status"] == "CANCELED"
    (listed,) = (await api.gql(MINE, token=fresh))["data"]["me"]["supportTickets"]["nodes"]
    assert listed["status"] == "OPEN" and listed["closedAt"] is None
    assert listed["work"]["status"] == "PROPOSED"
    messages = await SupportMessage.filter(from_system=True).order_by("created_at")
    assert "canceled the account deletion" in messages[-1].body


@pytest.mark.parametrize("category", ["RESTRICTION", "OBJECTION"])
async def test_restriction_and_objection_withdraw_every_optional_consent(
        api: Api, cast: Cast, category: str) -> None:
    body = await api.gql(SET_CONSENT, {"input": {"kind": "AI_TRAINING", "granted": True}},
                         token=cast.requester.token)
    assert "errors" not in body, body
    ticket = await open_right(api, cast.requester, category)
    assert ticket["work"]["kind"] == "CONSENT_WITHDRAWAL"
    assert ticket["work"]["status"] == "PROPOSED"
    assert await Consent.filter(granted=False).count() == 0  # nothing before confirming
    done = confirmed(await confirm(api, cast.requester, ticket["id"]))
    assert done["status"] == "RESOLVED" and done["work"]["status"] == "DONE"
    assert done["work"]["finishedAt"] == done["closedAt"]
    consents = (await api.gql(CONSENTS, token=cast.requester.token))["data"]["me"]["consents"]
    assert consents and all(c["granted"] is False for c in consents)
    assert "optional use of your data" in done["messages"]["nodes"][-1]["body"]


async def test_correction_goes_to_staff_who_resolve_it(api: Api, cast: Cast) -> None:
    before = closed_count()
    ticket = await open_right(api, cast.requester, "CORRECTION")
    assert ticket["work"]["kind"] == "STAFF_ANSWER" and ticket["work"]["status"] == "PENDING"
    assert ticket["dueAt"] is not None
    body = await confirm(api, cast.requester, ticket["id"])
    assert error_code(body) == "CONFLICT"
    assert errors_of(body)[0]["extensions"]["reason"] == "NOTHING_TO_CONFIRM"
    body = await api.gql(SET_STATUS, {"input": {"ticketId": ticket["id"], "status": "RESOLVED"}},
                         token=cast.staff.token)
    resolved = body["data"]["setTicketStatus"]["ticket"]
    assert resolved["closedAt"] and resolved["work"]["status"] == "DONE"
    assert closed_count() == before + 1


async def test_other_tickets_have_no_work_and_no_deadline(api: Api, cast: Cast) -> None:
    ticket = await open_right(api, cast.requester, "QUESTION")
    assert ticket["work"] is None and ticket["dueAt"] is None and ticket["overdue"] is False
    body = await confirm(api, cast.requester, ticket["id"])
    assert error_code(body) == "CONFLICT"


async def test_only_the_requester_confirms(api: Api, app: Any, cast: Cast) -> None:
    ticket = await open_right(api, cast.requester, "ACCESS")
    body = await confirm(api, cast.stranger, ticket["id"])
    assert error_code(body) == "NOT_FOUND"
    assert errors_of(body)[0]["extensions"]["field"] == "ticketId"
    body = await confirm(api, cast.staff, ticket["id"])
    assert error_code(body) == "FORBIDDEN"
    assert errors_of(body)[0]["extensions"]["reason"] == "REQUESTER_ONLY"
    # An id of another type, and no id at all, are NOT_FOUND too.
    body = await confirm(api, cast.requester, cast.team.org_id)
    assert error_code(body) == "NOT_FOUND"
    assert error_code(await api.gql(CONFIRM, {"input": {"ticketId": ticket["id"]}})) \
        == "UNAUTHENTICATED"
    await run_jobs(app)
    assert await ScheduledWork.all().count() == 0
    assert (await SupportTicket.get()).confirmed_at is None


async def test_staff_see_rights_first_by_due_date_and_overdue_ones_flagged(
        api: Api, cast: Cast) -> None:
    question = await open_ticket(api, cast.requester, subject="Question")
    later = await open_right(api, cast.requester, "ACCESS")
    sooner = await open_right(api, cast.stranger, "CORRECTION")
    await SupportTicket.filter(id=_uuid(sooner["id"])).update(
        due_at=datetime.now(UTC) - timedelta(days=1))
    body = await api.gql(QUEUE, token=cast.staff.token)
    nodes = body["data"]["supportQueue"]["nodes"]
    assert [n["id"] for n in nodes] == [sooner["id"], later["id"], question["id"]]
    assert [n["overdue"] for n in nodes] == [True, False, False]
    body = await api.gql(QUEUE, token=cast.requester.token)
    assert error_code(body) == "FORBIDDEN"


def _uuid(global_id: str) -> str:
    from strawberry import relay
    return relay.from_base64(global_id)[1]


async def test_a_page_of_tickets_reads_their_work_in_one_statement(
        api: Api, app: Any, cast: Cast) -> None:
    for category in ("ACCESS", "PORTABILITY", "DELETION"):
        ticket = await open_right(api, cast.requester, category)
        if category != "DELETION":
            confirmed(await confirm(api, cast.requester, ticket["id"]))
            await run_jobs(app)  # each export finishes, so the next confirmation makes its own
    assert await ScheduledWork.filter(kind=WorkKind.USER_EXPORT).count() == 2
    with count_sql() as sql:
        body = await api.gql(MINE, token=cast.requester.token)
    nodes = body["data"]["me"]["supportTickets"]["nodes"]
    assert [n["work"]["status"] for n in nodes] == ["PROPOSED", "DONE", "DONE"]
    assert [n["status"] for n in nodes] == ["OPEN", "RESOLVED", "RESOLVED"]
    reads = [s for s in sql.statements
             if s.lstrip().upper().startswith("SELECT") and "scheduled_work" in s]
    assert len(reads) == 1, reads


async def test_two_confirmations_at_once_start_the_work_once(api: Api, cast: Cast) -> None:
    ticket = await open_right(api, cast.requester, "PORTABILITY")
    first, second = await asyncio.gather(confirm(api, cast.requester, ticket["id"]),
                                         confirm(api, cast.requester, ticket["id"]))
    assert "errors" not in first and "errors" not in second, (first, second)
    assert await ScheduledWork.filter(kind=WorkKind.USER_EXPORT).count() == 1
    stored = await SupportTicket.get()
    assert stored.work_id == (await ScheduledWork.get()).id
    # One "you confirmed" message, not two.
    assert await SupportMessage.filter(from_system=True).count() == 1


async def test_an_export_that_fails_puts_the_ticket_before_staff(
        api: Api, app: Any, cast: Cast, media_root: Path) -> None:
    ticket = await open_right(api, cast.requester, "ACCESS")
    confirmed(await confirm(api, cast.requester, ticket["id"]))
    # Storage refuses the archive: a file stands where its folder should be.
    _block_exports(media_root)
    for _ in range(4):  # the first attempt and its retries
        await run_jobs(app)
    work = await ScheduledWork.get(kind=WorkKind.USER_EXPORT)
    assert work.status is WorkStatus.FAILED
    (listed,) = (await api.gql(MINE, token=cast.requester.token))["data"]["me"][
        "supportTickets"]["nodes"]
    assert listed["work"]["status"] == "FAILED"
    assert listed["status"] == "WAITING_ON_SUPPORT" and listed["closedAt"] is None
    last = await SupportMessage.filter(from_system=True).order_by("-created_at").first()
    assert last is not None and "failed" in last.body


def _block_exports(media_root: Path) -> None:
    media_root.mkdir(parents=True, exist_ok=True)
    (media_root / "exports").write_text("in the way")
