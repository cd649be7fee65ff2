"""Double opt-in over HTTP: a submission of such a form answers like any other, is PENDING until
the mailed link is opened, and `GET /f/confirm/{token}` then makes the lead; a used, expired
or unknown link gets one and the same page (no oracle)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from core.settings import Settings
from models.forms import FormSubmission, SubmissionStatus
from models.orgs import Organization
from tests.forms_web.conftest import good_fields, leads, make_form, post_form, receipts, submissions
from tests.smtp import Inbox, body_of


def link_in(inbox: Inbox, address: str) -> str:
    (mail,) = inbox.to(address, "confirm")
    match = re.search(r"http://testserver(/f/confirm/\S+)", body_of(mail))
    assert match, body_of(mail)
    return match.group(1)


async def test_a_double_opt_in_is_confirmed_by_its_link_once(
        http: httpx.AsyncClient, settings: Settings, org: Organization, inbox: Inbox) -> None:
    form = await make_form(org, double_opt_in=True)
    response = await post_form(http, form, await good_fields(http, settings, form))
    assert response.status_code == 200
    assert "open the link in it to confirm" in response.text
    (pending,) = await submissions(org)
    assert pending.status is SubmissionStatus.PENDING and await leads(org) == []
    link = link_in(inbox, "ada@example.com")  # mailed after the response, before it ended

    looked = await http.head(link)  # a link checker: nothing happens
    assert looked.status_code == 200
    assert (await submissions(org))[0].status is SubmissionStatus.PENDING
    confirmed = await http.get(link)
    assert confirmed.status_code == 200 and "Thank you: confirmed" in confirmed.text
    assert "set-cookie" not in confirmed.headers
    (accepted,) = await submissions(org)
    assert accepted.status is SubmissionStatus.ACCEPTED and accepted.confirmed_at
    (lead,) = await leads(org)
    assert lead.email == "ada@example.com"
    (receipt,) = await receipts(org)
    assert receipt.confirmed_at is not None and receipt.confirm_ip_hash

    used = await http.get(link)
    unknown = await http.get("/f/confirm/rlk_fc_" + "x" * 43)
    garbage = await http.get("/f/confirm/%3Cscript%3E")
    for failed in (used, unknown, garbage):
        assert failed.status_code == 404
        assert failed.text == used.text
        assert "unknown, was already used, or has expired" in failed.text
    assert len(await leads(org)) == 1


async def test_an_expired_link_gets_the_same_page(
        http: httpx.AsyncClient, settings: Settings, org: Organization, inbox: Inbox) -> None:
    form = await make_form(org, double_opt_in=True)
    await post_form(http, form, await good_fields(http, settings, form))
    link = link_in(inbox, "ada@example.com")
    (pending,) = await submissions(org)
    await FormSubmission._scoped(org.id).filter(id=pending.id).update(
        confirm_expires_at=datetime.now(UTC) - timedelta(minutes=1))
    expired = await http.get(link)
    unknown = await http.get("/f/confirm/rlk_fc_unknown")
    assert expired.status_code == unknown.status_code == 404
    assert expired.text == unknown.text
    assert await leads(org) == []


async def test_a_bot_on_a_double_opt_in_form_gets_the_same_answer_and_no_mail(
        http: httpx.AsyncClient, settings: Settings, org: Organization, inbox: Inbox) -> None:
    form = await make_form(org, double_opt_in=True)
    person = await post_form(http, form, await good_fields(http, settings, form))
    bot = await post_form(http, form, await good_fields(
        http, settings, form, website="x", email="bot@example.com"))
    assert (person.status_code, person.text) == (bot.status_code, bot.text)
    assert inbox.to("bot@example.com") == []
    assert [s.status for s in await submissions(org)] == [SubmissionStatus.PENDING,
                                                           SubmissionStatus.SPAM]
