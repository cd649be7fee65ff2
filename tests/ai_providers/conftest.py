"""The AI provider tests: no database; the fake OpenAI server's fixtures, and one lead whose
contact data is sprinkled through its notes in every spelling we could think of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from services.ai import LeadContext, minimise_lead
from tests.ai_fake import fake_openai, fake_openai_server  # noqa: F401 (fixtures)

EMAIL = "Ada.Lovelace+crm@Analytical-Engines.example.co.uk"
PHONE = "+44 20 7946 0958"
ADDRESS = ["12 Babbage Row", "Marylebone", "NW1 6XE", "GB"]
MEMBERS = ["Charles Babbage", "Mary Somerville"]
NOTES = [
    "Called Ada on 020 7946 0958 (her office) and on 02079460958; she prefers "
    "+44 (0)20 7946 0958. Her assistant is on +1 (555) 010-0199 and 555.010.0200.",
    "Mail from ADA.LOVELACE+crm@analytical-engines.example.co.uk and from "
    "bob@partner.example.com: wants a demo before 2026-01-15, budget 250,000 GBP.",
    "Visit at 12 babbage  row, Marylebone NW1 6XE. Charles said she is keen; Babbage will "
    "follow up. Let us meet Mary next week.",
    "French office: +33 1 23 45 67 89, German: 0049 30 1234567, tel:+15550100201.",
]
CONTACT_VALUES = [
    EMAIL, EMAIL.lower(), "bob@partner.example.com", "7946 0958", "79460958", "020 7946",
    "555", "0100199", "010-0199", "0100200", "23 45 67 89", "1234567", "15550100201",
    "Babbage Row", "babbage  row", "Marylebone", "NW1 6XE", "Charles", "Babbage", "Mary",
    "Somerville",
]
"""Strings (and pieces) of the lead's contact data and the members' names: none may be sent."""


@dataclass
class Lead:
    context: LeadContext
    manifest: list[str]
    contact: list[str] = field(default_factory=lambda: list(CONTACT_VALUES))


def minimised_lead(**overrides: Any) -> tuple[LeadContext, list[str]]:
    arguments: dict[str, Any] = dict(
        lead_name="Ada Lovelace", company="Analytical Engines Ltd", status="qualified",
        source="form", created_at="2026-11-02", email=EMAIL, phone=PHONE,
        address_parts=ADDRESS, notes=NOTES, member_names=MEMBERS, lead_id="TGVhZDo0Mg==",
        region="GB")
    arguments.update(overrides)
    return minimise_lead(**arguments)


@pytest.fixture
def lead() -> Lead:
    context, manifest = minimised_lead()
    return Lead(context, manifest)


def leaked(text: str, values: list[str]) -> list[str]:
    """The contact values found in `text` (case-insensitively)."""
    return [value for value in values if value.lower() in text.lower()]
