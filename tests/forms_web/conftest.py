"""Helpers for the public form endpoint tests: an org with a form (written directly: creating
forms over GraphQL is `tests/forms/`'s), the hosted page read as a browser reads it (its hidden
inputs and its challenge), the challenge solved with the `altcha` package's own solver, and
readers of what a submission stored.

The `http` client of `tests/conftest.py` comes from 203.0.113.7 to `http://testserver`, which
is the test settings' PUBLIC_URL: posting with `Origin: http://testserver` is the hosted page
posting to itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import altcha
import httpx
import orjson
import pytest
from limits.aio.storage import MemoryStorage

from auth.form_defences import FormDefences
from core.settings import Settings
from models.forms import ConsentReceipt, FormSubmission, LeadForm
from models.leads import Lead
from models.orgs import Organization
from tests.forms.conftest import ALL_FIELDS, CONSENT

OWN = "http://testserver"
SITE = "https://www.acme.test"
OTHER = "https://evil.example"
PERSON = {"name": "Ada Lovelace", "email": "ada@example.com", "company": "Engines",
          "message": "Please call me.", "consent": "yes"}


@pytest.fixture
async def org(app: Any) -> Organization:
    return await Organization.create(name="Acme", slug="acme")


async def make_form(org: Organization, **columns: Any) -> LeadForm:
    columns.setdefault("name", "Contact us")
    columns.setdefault("fields_asked", ALL_FIELDS)
    columns.setdefault("allowed_origins", [SITE])
    columns.setdefault("consent_text", CONSENT)
    columns.setdefault("consent_required", True)
    columns.setdefault("success_message", "Thanks, we will be in touch.")
    return await LeadForm.create(organization_id=org.id, **columns)


@pytest.fixture
async def form(org: Organization) -> LeadForm:
    return await make_form(org, page_title="Talk to Acme", page_intro="We answer within a day.",
                           accent_color="#0a7d3b")


class PageReader(HTMLParser):
    """The form element's attributes and its inputs' values, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str] = {}
        self.inputs: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.form = values
        elif tag in {"input", "textarea"} and "name" in values:
            self.inputs[values["name"]] = values


@dataclass
class Page:
    """The hosted page of a form, read."""

    response: httpx.Response
    form: dict[str, str]
    inputs: dict[str, dict[str, str]]
    challenge: dict[str, Any] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        return self.inputs["stamp"]["value"]


async def open_page(http: httpx.AsyncClient, public_id: str) -> Page:
    response = await http.get(f"/f/{public_id}")
    assert response.status_code == 200, response.text
    reader = PageReader()
    reader.feed(response.text)
    return Page(response, reader.form, reader.inputs, orjson.loads(reader.form["data-challenge"]))


def solve(challenge: dict[str, Any]) -> str:
    """The payload the page's script would send, found by the `altcha` package's solver."""
    found = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(found)
    assert solution is not None
    return altcha.Payload(found, solution).to_base64()


def stamp_from(settings: Settings, public_id: str, seconds_ago: float) -> str:
    """A render time signed as the server signs it, `seconds_ago` in the past (tests do not
    wait FORM_MIN_SECONDS)."""
    defences = FormDefences(settings, storage=MemoryStorage())
    return defences.stamp(public_id, time.time() - seconds_ago)


async def good_fields(http: httpx.AsyncClient, settings: Settings, form: LeadForm,
                      **changes: str) -> dict[str, str]:
    """What a person's browser with JavaScript sends: the values, the honeypot left empty, the
    render stamp (made old enough here), the solved challenge."""
    page = await open_page(http, form.public_id)
    sent = {**PERSON, "website": "", "stamp": stamp_from(settings, form.public_id, 5),
            "altcha": solve(page.challenge)}
    sent.update(changes)
    return {k: v for k, v in sent.items() if v is not None}


async def post_form(http: httpx.AsyncClient, form: LeadForm, fields: dict[str, str], *,
                    origin: str | None = OWN, **headers: str) -> httpx.Response:
    if origin is not None:
        headers["origin"] = origin
    return await http.post(f"/f/{form.public_id}", data=fields, headers=headers)


async def post_json(http: httpx.AsyncClient, form: LeadForm, body: Any, *,
                    origin: str | None = SITE, **headers: str) -> httpx.Response:
    if origin is not None:
        headers["origin"] = origin
    return await http.post(f"/f/{form.public_id}", content=orjson.dumps(body),
                           headers={"content-type": "application/json", **headers})


async def submissions(org: Organization) -> list[FormSubmission]:
    return list(await FormSubmission._scoped(org.id).order_by("created_at", "id"))


async def leads(org: Organization) -> list[Lead]:
    return list(await Lead._scoped(org.id).order_by("created_at", "id"))


async def receipts(org: Organization) -> list[ConsentReceipt]:
    return list(await ConsentReceipt._scoped(org.id).order_by("created_at", "id"))
