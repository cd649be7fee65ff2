"""The whole flow over HTTP: the public page, the verification mail from the SMTP server, the
task an ADMIN sees (and a MEMBER or VIEWER does not; another org's id is NOT_FOUND), one click
to answer, and the requester's mail: an export link for ACCESS, a confirmation for ERASURE
(which really erases), a reason for a rejection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from strawberry import relay

from core.settings import Settings
from jobs.exports import ORG_TABLES
from jobs.retention import apply_retention
from models.leads import Lead
from models.orgs import Role
from models.privacy_requests import PrivacyRequestKind, PrivacyRequestStatus
from observability.metrics import PRIVACY_REQUEST_CLOSE_SECONDS
from tests.conftest import Api, error_code, errors_of
from tests.leads.conftest import create_lead
from tests.orgs.conftest import Team
from tests.privacy.conftest import services_of
from tests.privacy_requests.conftest import (
    COMPLETE,
    GRACE,
    REJECT,
    REQUESTS,
    good_fields,
    link_in,
    open_page,
    post_request,
    rows,
    verified_request,
)
from tests.smtp import Inbox, body_of

ACTIVITY = """query($slug: String!) { organization(slug: $slug) { activity(first: 20) {
  nodes { action targetType targetId summary } } } }"""


def closed_count() -> float:
    for metric in PRIVACY_REQUEST_CLOSE_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("source") == "public":
                return sample.value
    return 0.0


async def test_an_access_request_goes_from_the_page_to_the_requesters_inbox(
        api: Api, settings: Settings, team: Team, rival: Team, inbox: Inbox) -> None:
    http = api.http
    await create_lead(api, team, email=GRACE, name="Grace Hopper")
    page = await open_page(http, team.slug)
    assert "default-src 'none'" in page.response.headers["content-security-policy"]
    assert "script-src 'self'" in page.response.headers["content-security-policy"]
    assert page.response.headers["cache-control"] == "no-store"
    assert "Your data at Team acme" in page.response.text
    assert page.form["action"] == "/p/acme" and page.form["method"] == "post"
    assert {"email", "kind", "message", "website", "stamp", "altcha"} <= set(page.inputs)

    sent = await post_request(http, team.slug, await good_fields(http, settings, team.org))
    assert sent.status_code == 200 and "Check your email" in sent.text
    (pending,) = await rows(team.org)
    assert pending.status is PrivacyRequestStatus.PENDING_VERIFICATION
    assert pending.email == GRACE and pending.kind is PrivacyRequestKind.ACCESS
    admin = team.people[Role.ADMIN].token
    # Nothing reaches the org before the link is opened.
    body = await api.gql(REQUESTS, {"slug": team.slug}, token=admin)
    assert body["data"]["organization"]["privacyRequests"]["totalCount"] == 0
    link = link_in(inbox, GRACE, "verify", "confirm your privacy request")
    assert (await http.head(link)).status_code == 200  # a link checker changes nothing
    assert (await rows(team.org))[0].status is PrivacyRequestStatus.PENDING_VERIFICATION
    opened = await http.get(link)
    assert opened.status_code == 200 and "confirmed" in opened.text
    assert "set-cookie" not in opened.headers
    replayed = await http.get(link)
    assert replayed.status_code == 404

    body = await api.gql(REQUESTS, {"slug": team.slug}, token=admin)
    (task,) = body["data"]["organization"]["privacyRequests"]["nodes"]
    assert task["status"] == "OPEN" and task["kind"] == "ACCESS" and task["email"] == GRACE
    assert task["message"] == "What do you hold about me?"
    (row,) = await rows(team.org)
    assert row.verified_at is not None and row.due_at == row.verified_at + timedelta(days=30)
    assert 29 * 86400 < task["timeLeft"] <= 30 * 86400 and task["overdue"] is False
    assert task["holdings"] == {"leads": 1, "notes": 0, "formSubmissions": 0,
                                "consentReceipts": 0}
    # A MEMBER or VIEWER of the org may not see it; another org's ADMIN finds nothing.
    for role in (Role.MEMBER, Role.VIEWER):
        denied = await api.gql(REQUESTS, {"slug": team.slug}, token=team.people[role].token)
        assert error_code(denied) == "FORBIDDEN"
        refused = await api.gql(COMPLETE, {"id": task["id"]}, token=team.people[role].token)
        assert error_code(refused) == "FORBIDDEN"
    foreign = await api.gql(COMPLETE, {"id": task["id"]}, token=rival.people[Role.ADMIN].token)
    assert error_code(foreign) == "NOT_FOUND"
    rival_view = await api.gql(REQUESTS, {"slug": rival.slug},
                               token=rival.people[Role.ADMIN].token)
    assert rival_view["data"]["organization"]["privacyRequests"]["totalCount"] == 0

    before = closed_count()
    done = await api.gql(COMPLETE, {"id": task["id"]}, token=admin)
    assert "errors" not in done, done
    answer = done["data"]["completePrivacyRequest"]["privacyRequest"]
    assert answer["status"] == "COMPLETED" and answer["completedAt"] and answer["timeLeft"] is None
    assert closed_count() == before + 1
    again = await api.gql(COMPLETE, {"id": task["id"]}, token=admin)
    assert error_code(again) == "CONFLICT"
    assert errors_of(again)[0]["extensions"]["reason"] == "PRIVACY_REQUEST_CLOSED"

    download = link_in(inbox, GRACE, "download", "access request")
    fetched = await http.get(download)
    assert fetched.status_code == 200
    assert fetched.headers["content-disposition"].startswith("attachment")
    document = orjson.loads(fetched.content)
    assert document["email"] == GRACE and len(document["leads"]) == 1
    assert document["leads"][0]["name"] == "Grace Hopper"
    assert (await http.get("/p/download/rlk_pd_" + "x" * 43)).status_code == 404


async def test_an_erasure_request_erases_and_the_requester_is_told(
        api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    await create_lead(api, team, email=GRACE, name="Grace Hopper")
    await create_lead(api, team, email="someone.else@example.com", name="Someone Else")
    request = await verified_request(api.http, settings, inbox, team.org, kind="erasure")
    gid = str(relay.GlobalID("PrivacyRequest", str(request.id)))
    admin = team.people[Role.ADMIN].token
    body = await api.gql(REQUESTS, {"slug": team.slug, "status": "OPEN"}, token=admin)
    (task,) = body["data"]["organization"]["privacyRequests"]["nodes"]
    assert task["kind"] == "ERASURE" and task["holdings"]["leads"] == 1
    done = await api.gql(COMPLETE, {"id": gid}, token=admin)
    assert done["data"]["completePrivacyRequest"]["privacyRequest"]["status"] == "COMPLETED"
    left = await Lead._scoped(team.org.id).all()
    assert [lead.email for lead in left] == ["someone.else@example.com"]
    (mail,) = inbox.to(GRACE, "erasure request was carried out")
    assert '"Team acme"' in body_of(mail)
    body = await api.gql(REQUESTS, {"slug": team.slug, "status": "COMPLETED"}, token=admin)
    (task,) = body["data"]["organization"]["privacyRequests"]["nodes"]
    assert task["holdings"]["leads"] == 0 and task["overdue"] is False
    # The organization's own export lists its answered requests (its record of them).
    (exported,) = await ORG_TABLES["privacy_requests"](team.org.id)
    assert exported["email"] == GRACE and exported["status"] == "completed"


async def test_a_rejection_mails_its_reason(api: Api, settings: Settings, team: Team,
                                            inbox: Inbox) -> None:
    request = await verified_request(api.http, settings, inbox, team.org)
    gid = str(relay.GlobalID("PrivacyRequest", str(request.id)))
    admin = team.people[Role.ADMIN].token
    empty = await api.gql(REJECT, {"id": gid, "reason": "  "}, token=admin)
    assert error_code(empty) == "BAD_USER_INPUT"
    long = await api.gql(REJECT, {"id": gid, "reason": "x" * 2001}, token=admin)
    assert error_code(long) == "BAD_USER_INPUT"
    body = await api.gql(REJECT, {"id": gid, "reason": "We could not confirm who you are."},
                         token=admin)
    rejected = body["data"]["rejectPrivacyRequest"]["privacyRequest"]
    assert rejected["status"] == "REJECTED"
    assert rejected["rejectReason"] == "We could not confirm who you are."
    (mail,) = inbox.to(GRACE, "About your privacy request")
    assert "We could not confirm who you are." in body_of(mail)
    log = await api.gql(ACTIVITY, {"slug": team.slug}, token=admin)
    (event,) = [e for e in log["data"]["organization"]["activity"]["nodes"]
                if e["action"] == "PRIVACY_REQUEST_REJECTED"]
    assert event["targetId"] == gid and event["summary"]["kind"] == "access"
    assert GRACE not in str(event)  # a keyed fingerprint, never the email
    late = await api.gql(COMPLETE, {"id": gid}, token=admin)
    assert error_code(late) == "CONFLICT"


async def test_unverified_requests_are_never_tasks_and_expire(
        app: Any, api: Api, settings: Settings, team: Team, inbox: Inbox) -> None:
    await post_request(api.http, team.slug, await good_fields(api.http, settings, team.org))
    (pending,) = await rows(team.org)
    gid = str(relay.GlobalID("PrivacyRequest", str(pending.id)))
    admin = team.people[Role.ADMIN].token
    hidden = await api.gql(COMPLETE, {"id": gid}, token=admin)
    assert error_code(hidden) == "NOT_FOUND"
    body = await api.gql(REQUESTS, {"slug": team.slug, "status": "PENDING_VERIFICATION"},
                         token=admin)
    assert body["data"]["organization"]["privacyRequests"]["totalCount"] == 0
    report = await apply_retention(services_of(app), datetime.now(UTC) + timedelta(days=10))
    assert report.deleted["unverified_privacy_requests"] == 1, report
    assert await rows(team.org) == []
