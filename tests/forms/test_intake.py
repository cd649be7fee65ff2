"""Taking submissions (`resolvers/form_intake.py`), as the public pages call it: validation,
new leads, merging into a known lead, restricted people, double opt-in, receipts, held and spam
submissions, and that nothing is half-written."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.activity import ActivityEvent
from models.forms import FormStatus, FormSubmission, SubmissionStatus
from models.leads import Lead, LeadSource, Note
from resolvers.form_intake import (
    CONSENT_MISSING,
    REQUIRED,
    SubmissionMeta,
    confirm_submission,
    form_by_public_id,
    take_submission,
    validate_values,
)
from tests.conftest import Api
from tests.forms.conftest import CONSENT, META, make_form, receipts, submissions
from tests.leads.conftest import events, lead_rows, note_rows
from tests.orgs.conftest import Team
from tests.smtp import Inbox, body_of

RAW = {"name": "Ada Lovelace", "email": "Ada@Example.com", "phone": "+1 415 555 2671",
       "company": "Analytical Engines", "title": "Countess", "message": "Call me\nplease",
       "consent": "on"}


def services(app: Any) -> Any:
    return app.state.services


async def submit(app: Any, form: Any, raw: dict[str, str] | None = None, *,
                 status: SubmissionStatus = SubmissionStatus.ACCEPTED,
                 signals: list[str] | None = None,
                 meta: SubmissionMeta = META) -> FormSubmission:
    values, problems = validate_values(form, raw or RAW)
    assert problems == {}
    return await take_submission(services(app), form, values, status=status,
                                 signals=signals or [], meta=meta)


async def test_form_by_public_id_finds_the_form_with_its_org(app: Any, team: Team) -> None:
    form = await make_form(team.org)
    found = await form_by_public_id(form.public_id)
    assert found is not None and found.id == form.id
    assert found.organization.slug == "acme"
    assert len(form.public_id) == 16
    assert await form_by_public_id("nope") is None
    assert await form_by_public_id("") is None
    assert await form_by_public_id("x" * 500) is None
    assert await form_by_public_id("../../etc'") is None


async def test_validate_values_cleans_and_reports_every_field(app: Any, team: Team) -> None:
    form = await make_form(team.org)
    values, problems = validate_values(form, {**RAW, "unknown": "ignored"})
    assert problems == {}
    assert values == {"name": "Ada Lovelace", "email": "ada@example.com",
                      "phone": "+14155552671", "company": "Analytical Engines",
                      "title": "Countess", "message": "Call me\nplease", "consent": "yes"}
    values, problems = validate_values(form, {
        "name": "\u202eevil", "email": "not-an-email", "phone": "12", "company": "x" * 201,
        "message": "   "})
    assert set(problems) == {"name", "email", "phone", "company", "consent"}
    assert problems["consent"] == CONSENT_MISSING
    values, problems = validate_values(form, {"consent": "on"})
    assert problems == {"name": REQUIRED, "email": REQUIRED}
    values, problems = validate_values(form, {**RAW, "consent": True})  # type: ignore[dict-item]
    assert problems == {} and values["consent"] == "yes"
    values, problems = validate_values(form, {**RAW, "consent": "no"})
    assert problems == {"consent": CONSENT_MISSING}
    values, problems = validate_values(form, {**RAW, "email": ["a@b.c"]})  # type: ignore[dict-item]
    assert problems == {"email": "must be text"}
    values, problems = validate_values(form, {**RAW, "message": "m" * 5001})
    assert "message" in problems


async def test_phone_uses_the_organization_region(app: Any, team: Team) -> None:
    team.org.default_region = "DE"
    await team.org.save()
    form = await make_form(team.org)
    values, problems = validate_values(form, {**RAW, "phone": "030 1234567"})
    assert problems == {} and values["phone"] == "+49301234567"


async def test_accepted_submission_makes_a_form_lead_with_receipt_and_event(
        app: Any, team: Team) -> None:
    form = await make_form(team.org)
    submission = await submit(app, form)
    assert submission.status is SubmissionStatus.ACCEPTED
    (lead,) = await lead_rows(team.org)
    assert (lead.name, lead.email, lead.phone, lead.company, lead.title, lead.source) == (
        "Ada Lovelace", "ada@example.com", "+14155552671", "Analytical Engines", "Countess",
        LeadSource.FORM)
    (note,) = await note_rows(team.org)
    assert note.body == "Call me\nplease" and note.author_id is None
    (stored,) = await submissions(team.org)
    assert stored.lead_id == lead.id and stored.email == "ada@example.com"
    assert "consent" not in stored.values and stored.consent_given
    expected_ip = hmac.new(services(app).settings.secret_key.encode(),
                           b"form-ip:198.51.100.23", hashlib.sha256).hexdigest()
    assert stored.ip_hash == expected_ip
    (receipt,) = await receipts(team.org)
    assert receipt.lead_id == lead.id and receipt.submission_id == stored.id
    assert receipt.consent_text == CONSENT
    assert receipt.consent_text_sha256 == hashlib.sha256(CONSENT.encode()).hexdigest()
    assert receipt.policy_version == services(app).settings.terms_version
    assert receipt.origin == "https://www.acme.test"
    assert receipt.user_agent == "Mozilla/5.0 (Test)" and receipt.ip_hash == expected_ip
    assert receipt.confirmed_at is None and receipt.consent_given
    created = await events(team.org, "lead.created")
    assert len(created) == 1 and created[0].form_id == form.id
    assert created[0].actor_id is None and created[0].ip is None
    assert created[0].summary == {"source": "form"}
    assert [e.form_id for e in await events(team.org, "note.added")] == [form.id]


async def test_known_email_merges_as_a_note_and_overwrites_nothing(
        app: Any, team: Team) -> None:
    form = await make_form(team.org)
    existing = await Lead.create(organization_id=team.org.id, name="A. Lovelace",
                                 email="ada@example.com", company="Old Co")
    await submit(app, form)
    (lead,) = await lead_rows(team.org)
    assert (lead.id, lead.name, lead.company, lead.phone, lead.source) == (
        existing.id, "A. Lovelace", "Old Co", None, LeadSource.MANUAL)
    (note,) = await note_rows(team.org)
    assert note.lead_id == existing.id
    assert "Contact us" in note.body and "Phone: +14155552671" in note.body
    assert "Company: Analytical Engines" in note.body and "Call me\nplease" in note.body
    (stored,) = await submissions(team.org)
    assert stored.lead_id == existing.id
    (receipt,) = await receipts(team.org)
    assert receipt.lead_id == existing.id
    assert await events(team.org, "lead.created") == []


async def test_restricted_person_is_stored_not_merged(app: Any, team: Team) -> None:
    form = await make_form(team.org)
    await Lead.create(organization_id=team.org.id, name="Ada", email="ada@example.com",
                      restricted=True, restricted_at=datetime.now(UTC))
    submission = await submit(app, form)
    assert submission.status is SubmissionStatus.ACCEPTED
    assert submission.lead_id is None and "restricted" in submission.signals
    assert len(await lead_rows(team.org)) == 1
    assert await note_rows(team.org) == []
    assert await events(team.org, "lead.") == [] and await events(team.org, "note.") == []


@pytest.mark.parametrize("status", [SubmissionStatus.HELD, SubmissionStatus.SPAM])
async def test_held_and_spam_are_only_stored(app: Any, team: Team,
                                              status: SubmissionStatus) -> None:
    form = await make_form(team.org)
    submission = await submit(app, form, status=status, signals=["honeypot"])
    assert submission.status is status and submission.signals == ["honeypot"]
    assert await lead_rows(team.org) == [] and await receipts(team.org) == []
    assert await ActivityEvent._scoped(team.org.id).filter(form_id=form.id).count() == 0


async def test_paused_form_takes_nothing(app: Any, team: Team) -> None:
    form = await make_form(team.org, status=FormStatus.PAUSED)
    with pytest.raises(Exception) as raised:
        await submit(app, form)
    assert "paused" in str(raised.value)
    assert await submissions(team.org) == []


async def test_double_opt_in_mails_the_link_and_makes_the_lead_on_confirm(
        app: Any, team: Team, inbox: Inbox) -> None:
    form = await make_form(team.org, double_opt_in=True)
    submission = await submit(app, form)
    assert submission.status is SubmissionStatus.PENDING
    assert await lead_rows(team.org) == [] and await receipts(team.org) == []
    (mail,) = inbox.to("ada@example.com")
    body = body_of(mail)
    token = body.split("http://testserver/f/confirm/")[1].split()[0]
    assert token.startswith("rlk_fc_")
    (stored,) = await submissions(team.org)
    assert stored.confirm_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored.values) and token not in (stored.confirm_token_hash or "")
    assert '"Contact us"' in body and '"Team acme"' in body
    assert "Contact us" not in str(mail["Subject"])

    confirmed = await confirm_submission(services(app), token, ip="192.0.2.9")
    assert confirmed is not None and confirmed.status is SubmissionStatus.ACCEPTED
    (lead,) = await lead_rows(team.org)
    assert lead.source is LeadSource.FORM
    (receipt,) = await receipts(team.org)
    assert receipt.confirmed_at is not None and receipt.lead_id == lead.id
    assert receipt.confirm_ip_hash not in (None, receipt.ip_hash)
    # The link works once.
    assert await confirm_submission(services(app), token, ip="192.0.2.9") is None
    assert len(await lead_rows(team.org)) == 1


async def test_confirm_refuses_unknown_and_expired_links(app: Any, team: Team,
                                                         inbox: Inbox) -> None:
    form = await make_form(team.org, double_opt_in=True)
    await submit(app, form)
    token = body_of(inbox.to("ada@example.com")[0]).split("/f/confirm/")[1].split()[0]
    assert await confirm_submission(services(app), "rlk_fc_unknown", ip=None) is None
    assert await confirm_submission(services(app), "garbage", ip=None) is None
    await FormSubmission._scoped(team.org.id).update(
        confirm_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await confirm_submission(services(app), token, ip=None) is None
    assert await lead_rows(team.org) == []


async def test_a_failing_write_leaves_nothing_half_written(app: Any, team: Team) -> None:
    from tests.leads.conftest import refusing_inserts
    form = await make_form(team.org)
    async with refusing_inserts("consent_receipts", "1 = 1"):
        with pytest.raises(Exception):
            await submit(app, form)
    assert await submissions(team.org) == [] and await lead_rows(team.org) == []
    assert await note_rows(team.org) == [] and await events(team.org, "lead.") == []
    assert await ActivityEvent._scoped(team.org.id).filter(form_id=form.id).count() == 0


async def test_intake_never_reaches_another_org(app: Any, api: Api, team: Team,
                                                rival: Team) -> None:
    form = await make_form(team.org)
    await Lead.create(organization_id=rival.org.id, name="Ada elsewhere",
                      email="ada@example.com")
    await submit(app, form)
    assert len(await lead_rows(team.org)) == 1  # a new lead here, not a merge there
    assert await Note._scoped(rival.org.id).count() == 0


async def test_subscribers_hear_of_the_lead_once_committed(app: Any, team: Team) -> None:
    """What `leadEvents` follows: the org's topic carries `lead.created` (and `note.added`
    for the message) with the form as actor, as for a lead made through the API."""
    import asyncio

    from realtime.events import org_topic
    form = await make_form(team.org)
    broker = services(app).broker
    async with broker.subscribe([org_topic(team.org.id)]) as heard:
        await asyncio.sleep(0.2)  # let a Redis subscription settle
        await submit(app, form)
        first = await asyncio.wait_for(anext(heard), 2)
        second = await asyncio.wait_for(anext(heard), 2)
    (lead,) = await lead_rows(team.org)
    assert (first["action"], first["targetId"], first["formId"]) == (
        "lead.created", str(lead.id), str(form.id))
    assert first["actorId"] is None and first["ip"] is None
    assert (second["action"], second["summary"]) == ("note.added", {"lead": str(lead.id)})
