"""What leaves for a provider: no email, phone number or address of the lead, no member's name,
whatever the spelling; the rest of the notes intact; the manifest says what was sent."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import ROOT
from services.ai import NOTES_MANIFEST, mask_text
from services.ai.minimise import MAX_NOTES, NOTE_MAX_CHARS
from tests.ai_providers.conftest import Lead, leaked, minimised_lead

pytestmark = pytest.mark.no_db


def everything_sent(lead: Lead) -> str:
    context = lead.context
    return " ".join([context.name, context.company or "", context.status, context.source or "",
                     context.created_at, *context.notes, *context.placeholders])


def test_no_contact_data_or_member_name_is_left_in_the_context(lead: Lead) -> None:
    assert leaked(everything_sent(lead), lead.contact) == []
    assert leaked(repr(lead.context), lead.contact) == []  # not even kept on the side


def test_the_leads_own_values_get_one_placeholder_in_every_spelling(lead: Lead) -> None:
    first, second, third, fourth = lead.context.notes
    assert first.count("[PHONE_1]") == 3  # 020 7946 0958, 02079460958, +44 (0)20 7946 0958
    assert "[EMAIL_1]" in second  # the lead's address, other case
    assert "[EMAIL_2]" in second  # someone else's
    assert third.startswith("Visit at [ADDRESS_")
    assert "[MEMBER] said she is keen; [MEMBER] will follow up" in third
    assert fourth.count("[PHONE_") == 3
    assert lead.context.placeholders["[EMAIL_1]"] == "email"
    assert lead.context.placeholders["[MEMBER]"] == "member"
    assert set(lead.context.placeholders.values()) == {"email", "phone", "address", "member"}


def test_what_is_not_contact_data_stays(lead: Lead) -> None:
    second, third = lead.context.notes[1], lead.context.notes[2]
    assert "wants a demo before 2026-01-15, budget 250,000 GBP" in second
    assert "Let us meet [MEMBER] next week." in third  # "US"/"GB" are too short to mask
    assert lead.context.name == "Ada Lovelace"
    assert lead.context.company == "Analytical Engines Ltd"


def test_the_manifest_names_the_fields_sent(lead: Lead) -> None:
    assert lead.manifest == ["lead.name", "lead.company", "lead.status", "lead.source",
                             "lead.createdAt", NOTES_MANIFEST.format(4)]
    assert NOTES_MANIFEST.format(4) == "note.body\N{MULTIPLICATION SIGN}4"
    context, manifest = minimised_lead(company=None, source=None, notes=[])
    assert manifest == ["lead.name", "lead.status", "lead.createdAt"]
    assert context.notes == [] and context.company is None


def test_the_lead_id_is_kept_for_the_caller_only(lead: Lead) -> None:
    assert lead.context.lead_id == "TGVhZDo0Mg=="
    assert "TGVhZDo0Mg==" not in everything_sent(lead)


def test_notes_are_capped_in_number_and_length_after_masking() -> None:
    notes = [f"note {n}" for n in range(30)]
    notes[0] = "x" * (NOTE_MAX_CHARS - 5) + " ada.lovelace+crm@analytical-engines.example.co.uk"
    context, manifest = minimised_lead(notes=notes)
    assert len(context.notes) == MAX_NOTES
    assert context.notes[1] == "note 1" and context.notes[-1] == f"note {MAX_NOTES - 1}"
    assert len(context.notes[0]) == NOTE_MAX_CHARS
    assert "ada" not in context.notes[0] and "@" not in context.notes[0]
    assert manifest[-1] == NOTES_MANIFEST.format(MAX_NOTES)


@pytest.mark.parametrize("spelling", [
    "+1 415 555 2671", "+1-415-555-2671", "(415) 555-2671", "415.555.2671", "4155552671",
    "+14155552671", "001 415 555 2671", "+44 20 7946 0958", "+33 (0)1 23 45 67 89",
    "+49 30 1234 5678", "+81 3-1234-5678", "+61 2 9876 5432", "+55 11 91234-5678",
    "+91 98765 43210", "0033 1 23 45 67 89",
])
def test_phone_numbers_of_any_country_and_format_in_notes_are_masked(spelling: str) -> None:
    context, _ = minimised_lead(notes=[f"Reach the buyer on {spelling} after lunch."],
                                phone=None, region="US")
    (note,) = context.notes
    assert note.startswith("Reach the buyer on [PHONE_") and note.endswith("] after lunch.")
    assert not any(ch.isdigit() for ch in note.replace("[PHONE_1]", ""))


def test_a_national_number_is_read_with_the_leads_region() -> None:
    context, _ = minimised_lead(notes=["Büro: 030 12345678, mobil 0171 2345678"],
                                phone="+49 30 12345678", region="DE")
    assert context.notes == ["Büro: [PHONE_1], mobil [PHONE_2]"]


@pytest.mark.parametrize("text", [
    "Meeting on 2026-01-15 at 10:30", "Signed 12/05/2026", "Budget 1.000.000 EUR",
    "Budget $250,000", "Order 42 of 7 units", "Version 3.12.1",
])
def test_dates_amounts_and_small_numbers_are_not_phone_numbers(text: str) -> None:
    context, _ = minimised_lead(notes=[text], region="US")
    assert context.notes == [text]


@pytest.mark.parametrize("email", [
    "a@b.co", "first.last+tag@mail.example.co.uk", "UPPER@EXAMPLE.COM",
    "o'hara@example.ie", "x_y-z@sub-domain.example.io",
])
def test_emails_in_notes_are_masked(email: str) -> None:
    context, _ = minimised_lead(notes=[f"Write to {email}, today."])
    (note,) = context.notes
    assert "@" not in note and "[EMAIL_" in note and note.endswith(", today.")


def test_a_member_sharing_the_leads_first_name_does_not_hide_the_lead() -> None:
    context, _ = minimised_lead(member_names=["Ada Smith"],
                                notes=["Ada Lovelace met Ada Smith; Smith was late."])
    assert context.notes == ["Ada Lovelace met [MEMBER]; [MEMBER] was late."]
    assert context.name == "Ada Lovelace"


def test_the_leads_name_keeps_its_words_even_when_they_are_a_place() -> None:
    context, _ = minimised_lead(lead_name="Paris Hilton", address_parts=["Paris"],
                                notes=["Paris Hilton lives in Paris."])
    assert context.name == "Paris Hilton"
    assert context.notes == ["[ADDRESS_1] Hilton lives in [ADDRESS_1]."]  # errs towards masking


def test_mask_text_masks_a_purpose_with_the_leads_placeholders() -> None:
    purpose = ("Confirm the demo with ada@example.com and +1 (415) 555-2671 at 12 Babbage Row; "
               "Charles joins")
    masked = mask_text(purpose, member_names=["Charles Babbage"], region="US",
                       email="ADA@example.com", phone="+14155552671",
                       address_parts=["12 Babbage Row"])
    assert masked == "Confirm the demo with [EMAIL_1] and [PHONE_1] at [ADDRESS_1]; [MEMBER] joins"
    assert mask_text("call 415 555 2671", member_names=[], region=None) == "call [PHONE_1]"


def test_one_word_names_and_places_are_masked_as_names_not_as_words() -> None:
    context, _ = minimised_lead(
        member_names=["Will Turner"], address_parts=["Reading", "Hauptstraße 5a"],
        notes=["Will said she will be reading the offer in Reading, near Hauptstraße; "
               "TURNER agrees."])
    assert context.notes == ["[MEMBER] said she will be reading the offer in [ADDRESS_1], "
                             "near [ADDRESS_2]; [MEMBER] agrees."]


def test_the_street_is_masked_without_its_house_number() -> None:
    context, _ = minimised_lead(notes=["Office: Babbage Row 12, second floor."])
    (note,) = context.notes
    assert "Babbage" not in note and note.startswith("Office: [ADDRESS_")


def test_placeholders_are_numbered_the_same_in_every_process() -> None:
    script = ("from tests.ai_providers.conftest import minimised_lead; "
              "print(minimised_lead()[0])")
    seen = {subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}
                           ).stdout for seed in ("1", "2", "3")}
    assert len(seen) == 1
