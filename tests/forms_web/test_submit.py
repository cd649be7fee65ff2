"""`POST /f/{publicId}` over HTTP, as browsers and a tenant's own page send it: each bot check
(a failure answered exactly as a success and kept as SPAM with its signal), HELD without a
proof of work, ACCEPTED with everything, the urlencoded and JSON shapes, their errors, sizes,
and that nothing here reads or sets a cookie."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from core.settings import Settings
from models.forms import FormStatus, LeadForm, SubmissionStatus
from models.orgs import Organization
from tests.forms_web.conftest import (
    OTHER,
    OWN,
    PERSON,
    SITE,
    good_fields,
    leads,
    make_form,
    open_page,
    post_form,
    post_json,
    receipts,
    solve,
    stamp_from,
    submissions,
)


def same_answer(a: httpx.Response, b: httpx.Response) -> None:
    """Two answers a client cannot tell apart (the request id aside)."""
    assert (a.status_code, a.content) == (b.status_code, b.content)
    skip = {"x-request-id", "date"}
    assert {k: v for k, v in a.headers.items() if k not in skip} == \
        {k: v for k, v in b.headers.items() if k not in skip}


async def test_a_person_with_javascript_is_accepted_and_becomes_a_lead(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    response = await post_form(http, form, await good_fields(http, settings, form))
    assert response.status_code == 200
    assert "<h1>Thank you</h1>" in response.text
    assert "Thanks, we will be in touch." in response.text
    (stored,) = await submissions(org)
    assert stored.status is SubmissionStatus.ACCEPTED and stored.signals == []
    assert stored.origin == OWN and stored.consent_given
    assert stored.consent_text == form.consent_text  # the hosted page showed it
    (lead,) = await leads(org)
    assert (lead.name, lead.email) == ("Ada Lovelace", "ada@example.com")
    (receipt,) = await receipts(org)
    assert receipt.lead_id == lead.id and receipt.consent_given
    assert "set-cookie" not in response.headers


async def test_without_a_proof_of_work_it_is_held_and_answered_the_same(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    accepted = await post_form(http, form, await good_fields(http, settings, form))
    held = await post_form(http, form, await good_fields(
        http, settings, form, altcha=None, email="grace@example.com"))
    same_answer(accepted, held)
    stored = await submissions(org)
    assert [(s.status, s.signals) for s in stored] == [
        (SubmissionStatus.ACCEPTED, []), (SubmissionStatus.HELD, ["no_challenge"])]
    assert stored[1].values["email"] == "grace@example.com"  # kept for review, not lost
    assert len(await leads(org)) == 1


def forged(payload: str) -> str:
    document = orjson.loads(base64.b64decode(payload))
    document["challenge"]["parameters"]["keyPrefix"] = ""  # anything solves it now
    return base64.b64encode(orjson.dumps(document)).decode()


CHECKS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("honeypot", {"website": "https://buy.example"}, ["honeypot"]),
    ("too fast", {"stamp": "fresh"}, ["too_fast"]),
    ("too old", {"stamp": "old"}, ["too_old"]),
    ("forged stamp", {"stamp": "forged"}, ["no_stamp"]),
    ("no stamp", {"stamp": None}, ["no_stamp"]),
    ("another site's origin", {"origin": OTHER}, ["origin"]),
    ("no origin nor referer", {"origin": None}, ["origin"]),
    ("the null origin", {"origin": "null"}, ["origin"]),
    ("a wrong proof", {"altcha": "wrong"}, ["challenge_invalid"]),
    ("a forged proof", {"altcha": "forged"}, ["challenge_invalid"]),
    ("a URL in the name", {"name": "Cheap meds http://pills.example"}, ["url_in_name"]),
    ("markup in the name", {"name": "<b>Ada</b>"}, ["markup_in_name"]),
]


@pytest.mark.parametrize(("case", "changes", "signals"), CHECKS, ids=[c[0] for c in CHECKS])
async def test_each_failed_check_is_answered_as_a_success_and_kept_as_spam(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm,
        case: str, changes: dict[str, Any], signals: list[str]) -> None:
    accepted = await post_form(http, form, await good_fields(http, settings, form))
    fields = await good_fields(http, settings, form, email="bot@example.com")
    origin = changes.pop("origin", OWN)
    special = {"fresh": (await open_page(http, form.public_id)).stamp,
               "old": stamp_from(settings, form.public_id, 25 * 3600),
               "forged": stamp_from(settings, form.public_id, 5)[:-4] + "AAAA"}
    if changes.get("stamp") in special:
        changes["stamp"] = special[changes["stamp"]]
    if changes.get("altcha") == "wrong":
        changes["altcha"] = base64.b64encode(b'{"challenge": {}, "solution": {}}').decode()
    elif changes.get("altcha") == "forged":
        changes["altcha"] = forged(fields["altcha"])
    fields.update(changes)
    fields = {k: v for k, v in fields.items() if v is not None}
    spam = await post_form(http, form, fields, origin=origin)
    same_answer(accepted, spam)
    stored = await submissions(org)
    assert [(s.status, s.signals) for s in stored] == [
        (SubmissionStatus.ACCEPTED, []), (SubmissionStatus.SPAM, signals)], case
    assert stored[1].email == "bot@example.com"
    assert len(await leads(org)) == 1  # the person's only


async def test_a_referer_stands_in_for_a_missing_origin(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    fields = await good_fields(http, settings, form)
    response = await post_form(http, form, fields, origin=None,
                               referer=f"{SITE}/contact?from=ad")
    assert response.status_code == 200
    (stored,) = await submissions(org)
    assert (stored.status, stored.origin) == (SubmissionStatus.ACCEPTED, SITE)


async def test_the_page_served_on_another_host_may_post_to_it(
        app: Any, settings: Settings, org: Organization, form: LeadForm) -> None:
    """A page served on a custom domain posts with that domain's origin, to that domain."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))
    async with httpx.AsyncClient(transport=transport,
                                 base_url="https://forms.acme.test") as custom:
        fields = await good_fields(custom, settings, form)
        await post_form(custom, form, fields, origin="https://forms.acme.test")
        fields = await good_fields(custom, settings, form, email="b@example.com")
        await post_form(custom, form, fields, origin="https://other.acme.test")
    assert [(s.status, s.signals) for s in await submissions(org)] == [
        (SubmissionStatus.ACCEPTED, []), (SubmissionStatus.SPAM, ["origin"])]


async def test_the_access_log_leaves_out_a_confirmation_token(
        http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], app: Any) -> None:
    capsys.readouterr()
    await http.get("/f/confirm/rlk_fc_secret-token-value")
    out = capsys.readouterr().out
    lines = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    (line,) = [x for x in lines if x.get("event") == "request"]
    assert line["path"] == "/f/confirm/[token]"
    assert "secret-token-value" not in out


async def test_a_spent_proof_of_work_cannot_be_replayed(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    fields = await good_fields(http, settings, form)
    first = await post_form(http, form, fields)
    again = await post_form(http, form, {**fields, "email": "bot@example.com"})
    same_answer(first, again)
    assert [(s.status, s.signals) for s in await submissions(org)] == [
        (SubmissionStatus.ACCEPTED, []), (SubmissionStatus.SPAM, ["challenge_replayed"])]


async def test_a_proof_for_another_form_is_refused(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    other = await make_form(org, name="Other")
    theirs = solve((await open_page(http, other.public_id)).challenge)
    await post_form(http, form, await good_fields(http, settings, form, altcha=theirs))
    assert [(s.status, s.signals) for s in await submissions(org)] == [
        (SubmissionStatus.SPAM, ["challenge_invalid"])]


async def test_several_failed_checks_are_all_named(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    fields = await good_fields(http, settings, form, website="x", name="www.spam Ada",
                               altcha=None)
    await post_form(http, form, fields, origin=OTHER)
    (stored,) = await submissions(org)
    assert stored.status is SubmissionStatus.SPAM
    assert stored.signals == ["honeypot", "origin", "url_in_name", "no_challenge"]


async def test_a_form_with_a_redirect_sends_every_submission_there(
        http: httpx.AsyncClient, settings: Settings, org: Organization) -> None:
    form = await make_form(org, redirect_url=f"{SITE}/thanks")
    person = await post_form(http, form, await good_fields(http, settings, form))
    bot = await post_form(http, form, await good_fields(http, settings, form, website="x"))
    for response in (person, bot):
        assert response.status_code == 303
        assert response.headers["location"] == f"{SITE}/thanks"
    page = await open_page(http, form.public_id)
    assert "form-action 'self' https://www.acme.test;" in \
        page.response.headers["content-security-policy"]


async def test_invalid_values_re_render_the_page_with_the_errors(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    fields = await good_fields(http, settings, form, email="not-an-email", name="",
                               consent=None, company="<Engines & Co>")
    response = await post_form(http, form, fields)
    assert response.status_code == 400
    page = response.text
    assert 'aria-invalid="true" aria-describedby="error-email"' in page
    assert '<p class="error" id="error-email">' in page
    assert 'id="error-name">is required</p>' in page
    assert 'id="error-consent">must be accepted to send the form</p>' in page
    assert '<a href="#field-email">' in page  # the summary links each field
    # What was typed is kept (escaped), the render time too; a new challenge is issued.
    assert 'value="&lt;Engines &amp; Co&gt;"' in page
    assert f'name="stamp" value="{fields["stamp"]}"' in page
    assert 'name="altcha" value=""' in page
    assert await submissions(org) == []


async def test_a_value_past_its_bound_is_refused(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    response = await post_json(http, form, {**PERSON, "company": "x" * 201})
    assert response.status_code == 400
    fields = response.json()["errors"][0]["extensions"]["fields"]
    assert fields["company"]["code"] == "TOO_LONG"
    assert await submissions(org) == []


async def test_json_from_an_allowed_origin_with_cors(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    ready = await http.get(f"/f/{form.public_id}/challenge", headers={"origin": SITE})
    assert ready.status_code == 200
    assert ready.headers["access-control-allow-origin"] == SITE
    assert "access-control-allow-credentials" not in ready.headers
    issued = ready.json()
    assert issued["minSeconds"] == 2.0 and issued["consent"]["required"] is True
    assert [f["name"] for f in issued["fields"]] == ["name", "email", "phone", "company",
                                                     "title", "message"]
    body = {**PERSON, "consent": True, "consentShown": True,
            "stamp": stamp_from(settings, form.public_id, 5),
            "altcha": solve(issued["challenge"]), "website": ""}
    response = await post_json(http, form, body)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": "Thanks, we will be in touch.",
                               "redirectUrl": None}
    assert response.headers["access-control-allow-origin"] == SITE
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["vary"] == "Origin"
    (stored,) = await submissions(org)
    assert (stored.status, stored.origin, stored.consent_text) == (
        SubmissionStatus.ACCEPTED, SITE, form.consent_text)
    assert len(await leads(org)) == 1


async def test_json_that_fails_a_check_is_answered_as_a_success(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    async def body(**changes: object) -> dict[str, object]:
        ready = (await http.get(f"/f/{form.public_id}/challenge")).json()
        return {**PERSON, "stamp": stamp_from(settings, form.public_id, 5),
                "altcha": solve(ready["challenge"]), **changes}

    accepted = await post_json(http, form, await body())
    held = await post_json(http, form, await body(altcha=None, email="h@example.com"))
    spam = await post_json(http, form, await body(website="x", email="s@example.com"))
    fast = await post_json(http, form, await body(
        stamp=stamp_from(settings, form.public_id, 0), email="f@example.com"))
    for other in (held, spam, fast):
        same_answer(accepted, other)
    assert [(s.status, s.signals) for s in await submissions(org)] == [
        (SubmissionStatus.ACCEPTED, []), (SubmissionStatus.HELD, ["no_challenge"]),
        (SubmissionStatus.SPAM, ["honeypot"]), (SubmissionStatus.SPAM, ["too_fast"])]


async def test_json_from_another_origin_gets_no_cors_and_is_spam(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    body = {**PERSON, "stamp": stamp_from(settings, form.public_id, 5)}
    response = await post_json(http, form, body, origin=OTHER)
    assert response.status_code == 200 and response.json()["ok"] is True
    assert "access-control-allow-origin" not in response.headers
    (stored,) = await submissions(org)
    assert stored.status is SubmissionStatus.SPAM
    assert stored.signals == ["origin", "no_challenge"]


async def test_json_errors_have_a_stable_code_per_field(
        http: httpx.AsyncClient, org: Organization, form: LeadForm) -> None:
    response = await post_json(http, form, {"email": "nope", "consent": False,
                                            "phone": "12"})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == SITE
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    codes = {name: problem["code"] for name, problem in error["extensions"]["fields"].items()}
    assert codes == {"name": "REQUIRED", "email": "INVALID", "phone": "INVALID",
                     "consent": "CONSENT_REQUIRED"}
    assert all(p["message"] for p in error["extensions"]["fields"].values())


@pytest.mark.parametrize(("content", "content_type", "status", "reason"), [
    (b"{oops", "application/json", 400, "MALFORMED_BODY"),
    (b"[1, 2]", "application/json", 400, "MALFORMED_BODY"),
    (b'{"name": 5}', "application/json", 400, "MALFORMED_BODY"),
    (orjson.dumps({f"k{i}": "v" for i in range(51)}), "application/json", 400,
     "MALFORMED_BODY"),
    (b"name=Ada", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    (b"--x\r\n", "multipart/form-data; boundary=x", 415, "UNSUPPORTED_MEDIA_TYPE"),
    (b'{"message": "' + b"x" * 17_000 + b'"}', "application/json", 413, "BODY_TOO_LARGE"),
])
async def test_bodies_that_are_not_a_submission(
        http: httpx.AsyncClient, org: Organization, form: LeadForm, content: bytes,
        content_type: str, status: int, reason: str) -> None:
    response = await http.post(f"/f/{form.public_id}", content=content,
                               headers={"content-type": content_type, "origin": SITE})
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["reason"] == reason
    assert await submissions(org) == []


async def test_an_oversized_form_post_gets_a_page(
        http: httpx.AsyncClient, org: Organization, form: LeadForm) -> None:
    response = await http.post(f"/f/{form.public_id}", data={"message": "x" * 17_000},
                               headers={"origin": OWN})
    assert response.status_code == 413
    assert "larger than 16384 bytes" in response.text
    assert response.headers["content-type"].startswith("text/html")
    too_many = await http.post(f"/f/{form.public_id}", content="&".join(
        f"k{i}=v" for i in range(60)), headers={
        "origin": OWN, "content-type": "application/x-www-form-urlencoded"})
    assert too_many.status_code == 400
    assert await submissions(org) == []


async def test_a_streamed_body_past_the_bound_is_refused(
        http: httpx.AsyncClient, org: Organization, form: LeadForm) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"message=" + b"x" * 1000 + b"&"

    response = await http.post(f"/f/{form.public_id}", content=chunks(), headers={
        "content-type": "application/x-www-form-urlencoded", "origin": OWN})
    assert response.status_code == 413
    assert await submissions(org) == []


async def test_unknown_and_paused_forms(http: httpx.AsyncClient, settings: Settings,
                                        org: Organization) -> None:
    unknown = await http.get("/f/AAAAAAAAAAAAAAAA")
    assert unknown.status_code == 404 and "No such form" in unknown.text
    form = await make_form(org, status=FormStatus.PAUSED)
    paused = await http.get(f"/f/{form.public_id}")
    assert paused.status_code == 404 and "This form is closed" in paused.text
    assert "<form" not in paused.text
    posted = await post_json(http, form, {**PERSON})
    assert posted.status_code == 404
    assert posted.json()["errors"][0]["extensions"]["reason"] == "FORM_PAUSED"
    html = await post_form(http, form, {**PERSON})
    assert html.status_code == 404 and "This form is closed" in html.text
    assert (await post_json(http, await make_form(org, name="gone"), PERSON)).status_code == 200
    missing = await http.post("/f/AAAAAAAAAAAAAAAA", json=PERSON, headers={"origin": SITE})
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    challenge = await http.get(f"/f/{form.public_id}/challenge")
    assert challenge.status_code == 404
    assert [s.status for s in await submissions(org)] == [SubmissionStatus.SPAM]


async def test_cookies_are_neither_read_nor_set(
        http: httpx.AsyncClient, settings: Settings, org: Organization, form: LeadForm) -> None:
    fields = await good_fields(http, settings, form)
    http.cookies.set("relleks_access", "not-a-token")
    http.cookies.set("relleks_csrf", "x")
    responses = [await http.get(f"/f/{form.public_id}"),
                 await post_form(http, form, fields),
                 await http.get(f"/f/{form.public_id}/challenge"),
                 await http.get("/f/confirm/rlk_fc_nothing")]
    for response in responses:
        assert response.status_code in {200, 404}
        assert "set-cookie" not in response.headers
    assert [s.status for s in await submissions(org)] == [SubmissionStatus.ACCEPTED]
