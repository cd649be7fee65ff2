"""The public page under abuse: it answers the same whatever the email and whatever the bot
checks said (only requests passing them all are stored and mailed), refuses oversized fields
and bodies, limits by network, by page and by mailbox, and its links fail alike whether
bogus, expired or used."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.settings import Settings
from models.privacy_requests import PrivacyRequest
from models.tenancy import system_scope
from tests.conftest import Api
from tests.forms_web.conftest import stamp_from
from tests.leads.conftest import create_lead
from tests.orgs.conftest import Team
from tests.privacy_requests.conftest import (
    GRACE,
    good_fields,
    key_of,
    link_in,
    post_request,
    rows,
)
from tests.smtp import Inbox

SENT = "Check your email"


async def test_the_answer_does_not_say_whether_the_email_is_known(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    await create_lead(api, team, email=GRACE)
    http = api.http
    known = await post_request(http, team.slug, await good_fields(http, settings, team.org))
    unknown = await post_request(http, team.slug, await good_fields(
        http, settings, team.org, email="nobody@example.com"))
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text and SENT in known.text
    assert len(await rows(team.org)) == 2  # both verified by mail, whatever the org holds
    assert len(inbox.to(GRACE)) == len(inbox.to("nobody@example.com")) == 1


@pytest.mark.parametrize("bot", ["no_proof_of_work", "forged_proof", "honeypot", "no_stamp",
                                 "too_fast", "other_origin"])
async def test_a_bot_gets_the_same_answer_and_nothing_is_stored_or_mailed(
        http: httpx.AsyncClient, settings: Settings, team: Team, inbox: Inbox,
        bot: str) -> None:
    fields = await good_fields(http, settings, team.org)
    origin = "http://testserver"
    if bot == "no_proof_of_work":
        fields["altcha"] = ""
    elif bot == "forged_proof":
        fields["altcha"] = "eyJjaGFsbGVuZ2UiOnt9fQ=="
    elif bot == "honeypot":
        fields["website"] = "http://spam.example"
    elif bot == "no_stamp":
        fields["stamp"] = "123.forged"
    elif bot == "too_fast":
        fields["stamp"] = stamp_from(settings, key_of(team.org), 0)
    else:
        origin = "https://evil.example"
    response = await post_request(http, team.slug, fields, origin=origin)
    assert response.status_code == 200 and SENT in response.text
    assert await rows(team.org) == []
    assert inbox.to(GRACE) == []


async def test_a_spent_proof_of_work_is_not_accepted_twice(
        http: httpx.AsyncClient, settings: Settings, team: Team, inbox: Inbox) -> None:
    fields = await good_fields(http, settings, team.org)
    await post_request(http, team.slug, fields)
    again = await post_request(http, team.slug, fields)
    assert again.status_code == 200 and SENT in again.text
    assert len(await rows(team.org)) == 1 and len(inbox.to(GRACE)) == 1


async def test_oversized_and_invalid_fields_are_refused(
        http: httpx.AsyncClient, settings: Settings, team: Team, inbox: Inbox) -> None:
    for changes, field in (({"message": "x" * 2001}, "message"),
                           ({"email": "a" * 400 + "@example.com"}, "email"),
                           ({"email": "not an email"}, "email"),
                           ({"email": ""}, "email"),
                           ({"kind": "everything"}, "kind"),
                           ({"kind": None}, "kind"),
                           ({"message": "hi\x07there"}, "message")):
        response = await post_request(http, team.slug, await good_fields(
            http, settings, team.org, **changes))
        assert response.status_code == 400, changes
        assert f'href="#field-{field}"' in response.text, changes
        assert 'aria-invalid="true"' in response.text
    huge = await http.post(f"/p/{team.slug}", content=b"message=" + b"x" * 20_000,
                           headers={"content-type": "application/x-www-form-urlencoded",
                                    "origin": "http://testserver"})
    assert huge.status_code == 413
    json = await http.post(f"/p/{team.slug}", content=b"{}",
                           headers={"content-type": "text/plain"})
    assert json.status_code == 415
    assert await rows(team.org) == [] and inbox.messages == []


async def test_unknown_pages_and_links_fail_alike(
        http: httpx.AsyncClient, settings: Settings, team: Team, inbox: Inbox) -> None:
    for path in ("/p/nobody", "/p/%3Cscript%3E", "/p/" + "a" * 60):
        assert (await http.get(path)).status_code == 404, path
    response = await post_request(http, team.slug, await good_fields(http, settings, team.org))
    assert response.status_code == 200
    link = link_in(inbox, GRACE, "verify")
    (request,) = await rows(team.org)
    scope = system_scope(team.org.id, reason="tests expire a verification link")
    await scope.scoped(PrivacyRequest).filter(id=request.id).update(
        verify_expires_at=datetime.now(UTC) - timedelta(minutes=1))
    expired = await http.get(link)
    bogus = await http.get("/p/verify/rlk_pv_" + "x" * 43)
    garbage = await http.get("/p/verify/%3Cscript%3E")
    long = await http.get("/p/verify/rlk_pv_" + "x" * 200)
    for failed in (expired, bogus, garbage, long):
        assert failed.status_code == 404
        assert failed.text == expired.text and "does not work" in failed.text
    (still,) = await rows(team.org)
    assert still.verified_at is None
    assert (await http.get("/p/download/" + "x" * 20)).status_code == 404


async def test_one_mailbox_gets_at_most_three_verification_mails_an_hour(
        http: httpx.AsyncClient, settings: Settings, team: Team, inbox: Inbox) -> None:
    for _ in range(4):
        response = await post_request(http, team.slug, await good_fields(
            http, settings, team.org))
        assert response.status_code == 200 and SENT in response.text
    assert len(await rows(team.org)) == 3 and len(inbox.to(GRACE)) == 3


class TestRateLimits:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, form_rate_per_ip="2/minute")

    async def test_a_network_past_its_budget_gets_429_and_nothing_is_sent(
            self, http: httpx.AsyncClient, settings: Settings, team: Team,
            inbox: Inbox) -> None:
        for n in range(2):
            response = await post_request(http, team.slug, await good_fields(
                http, settings, team.org, email=f"p{n}@example.com"))
            assert response.status_code == 200
        refused = await post_request(http, team.slug, await good_fields(
            http, settings, team.org, email="p3@example.com"))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "Too many requests" in refused.text
        assert len(await rows(team.org)) == 2 and inbox.to("p3@example.com") == []


async def test_the_page_answers_no_cors_not_even_to_the_apis_own_origins(
        http: httpx.AsyncClient, settings: Settings, team: Team) -> None:
    for origin in [*settings.allowed_origins, "https://evil.example"]:
        asked = await http.options(f"/p/{team.slug}", headers={
            "origin": origin, "access-control-request-method": "POST"})
        page = await http.get(f"/p/{team.slug}", headers={"origin": origin})
        for response in (asked, page):
            assert "access-control-allow-origin" not in response.headers
            assert "access-control-allow-credentials" not in response.headers
        assert page.status_code == 200 and asked.status_code == 405
