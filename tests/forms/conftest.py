"""Fixtures for the lead form tests: `team` ("acme": OWNER, ADMIN, MEMBER, VIEWER) and `rival`
("globex") from `tests/orgs/conftest.py`, forms written directly (`make_form`) when a test is
about taking submissions rather than creating forms, and readers of the rows a submission
writes.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import Settings
from models.forms import ConsentReceipt, FormSubmission, LeadForm
from models.orgs import Organization
from resolvers.form_intake import SubmissionMeta
from tests.conftest import Api
from tests.orgs.conftest import Team, make_team

CONSENT = "I agree that Acme may contact me about my request."
META = SubmissionMeta(origin="https://www.acme.test", user_agent="Mozilla/5.0 (Test)",
                      ip="198.51.100.23", consent_shown=True)


@pytest.fixture
async def team(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "acme")


@pytest.fixture
async def rival(api: Api, settings: Settings) -> Team:
    return await make_team(api, settings, "globex", prefix="g.")


ALL_FIELDS = [{"name": "name", "required": True}, {"name": "email", "required": True},
              {"name": "phone", "required": False}, {"name": "company", "required": False},
              {"name": "title", "required": False}, {"name": "message", "required": False}]


async def make_form(org: Organization, **columns: Any) -> LeadForm:
    """A form written directly (createLeadForm is tested over HTTP), with its organization
    loaded as `form_by_public_id` gives it."""
    columns.setdefault("name", "Contact us")
    columns.setdefault("fields_asked", ALL_FIELDS)
    columns.setdefault("allowed_origins", ["https://www.acme.test"])
    columns.setdefault("consent_text", CONSENT)
    columns.setdefault("consent_required", True)
    form = await LeadForm.create(organization_id=org.id, **columns)
    form.organization = org
    return form


async def submissions(org: Organization) -> list[FormSubmission]:
    return list(await FormSubmission._scoped(org.id).order_by("created_at", "id"))


async def receipts(org: Organization) -> list[ConsentReceipt]:
    return list(await ConsentReceipt._scoped(org.id).order_by("created_at", "id"))
