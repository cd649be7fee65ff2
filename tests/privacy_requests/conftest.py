"""Helpers for the privacy-request tests: the orgs "acme" (`team`: OWNER, ADMIN, MEMBER, VIEWER)
and "globex" (`rival`), the public page read as a browser reads it (its hidden inputs and its
challenge, solved with the `altcha` package's solver, as `tests/forms_web` does), the mailed
links, and the GraphQL documents of the ADMIN's side."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from core.settings import Settings
from models.orgs import Organization
from models.privacy_requests import PrivacyRequest
from tests.conftest import Api
from tests.forms_web.conftest import PageReader, solve, stamp_from
from tests.orgs.conftest import Team, make_team
from tests.smtp import Inbox, body_of

OWN = "http://testserver"
GRACE = "grace.hopper@navy.example"

REQUESTS = """query($slug: String!, $status: PrivacyRequestStatus) {
  organization(slug: $slug) { privacyRequests(first: 20, status: $status) { totalCount nodes {
    id email kind message status createdAt verifiedAt dueAt completedAt timeLeft overdue
    rejectReason overdueNotifiedAt
    holdings { leads notes formSubmissions consentReceipts } } } } }"""
COMPLETE = """mutation($id: ID!) { completePrivacyRequest(input: {id: $id}) {
  privacyRequest { id status completedAt timeLeft } } }"""
REJECT = """mutation($id: ID!, $reason: String!) {
  rejectPrivacyRequest(input: {id: $id, reason: $reason}) {
    privacyRequest { id status rejectReason } } }"""


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="g.")


@dataclass
class Page:
    response: httpx.Response
    form: dict[str, str]
    inputs: dict[str, dict[str, str]]
    challenge: dict[str, Any]


async def open_page(http: httpx.AsyncClient, slug: str, **headers: str) -> Page:
    response = await http.get(f"/p/{slug}", headers=headers)
    assert response.status_code == 200, response.text
    reader = PageReader()
    reader.feed(response.text)
    return Page(response, reader.form, reader.inputs,
                orjson.loads(reader.form["data-challenge"]))


def key_of(org: Organization) -> str:
    return f"privacy:{org.id}"


async def good_fields(http: httpx.AsyncClient, settings: Settings, org: Organization,
                      **changes: str | None) -> dict[str, str]:
    """What a person's browser with JavaScript sends: the values, the empty honeypot, a render
    stamp old enough, the solved challenge."""
    page = await open_page(http, org.slug)
    sent: dict[str, str | None] = {
        "email": GRACE, "kind": "access", "message": "What do you hold about me?",
        "website": "", "stamp": stamp_from(settings, key_of(org), 5),
        "altcha": solve(page.challenge)}
    sent.update(changes)
    return {k: v for k, v in sent.items() if v is not None}


async def post_request(http: httpx.AsyncClient, slug: str, fields: dict[str, str], *,
                       origin: str | None = OWN, **headers: str) -> httpx.Response:
    if origin is not None:
        headers["origin"] = origin
    return await http.post(f"/p/{slug}", data=fields, headers=headers)


def link_in(inbox: Inbox, address: str, path: str, subject_has: str = "") -> str:
    """The one mailed link under `/p/{path}/` to `address` (its path)."""
    found = [m for m in inbox.to(address, subject_has)
             if re.search(rf"http://testserver/p/{path}/", body_of(m))]
    assert len(found) == 1, [body_of(m) for m in inbox.to(address)]
    match = re.search(rf"http://testserver(/p/{path}/\S+)", body_of(found[0]))
    assert match
    return match.group(1)


async def rows(org: Organization) -> list[PrivacyRequest]:
    return list(await PrivacyRequest._scoped(org.id).order_by("created_at", "id"))


async def verified_request(http: httpx.AsyncClient, settings: Settings, inbox: Inbox,
                           org: Organization, **changes: str | None) -> PrivacyRequest:
    """A request sent on the page and verified by its mailed link."""
    response = await post_request(http, org.slug, await good_fields(http, settings, org,
                                                                    **changes))
    assert response.status_code == 200, response.text
    email = changes.get("email") or GRACE
    opened = await http.get(link_in(inbox, email, "verify"))
    assert opened.status_code == 200, opened.text
    inbox.messages.clear()
    (request,) = [r for r in await rows(org) if r.email == email and r.verified_at]
    return request
