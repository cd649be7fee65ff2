"""The one redaction policy (`core/redaction.py`) on its own, and its use by every sink."""

from __future__ import annotations

import pytest

from core import redaction
from core.error_reports import scrub_event
from core.logs import redact_sensitive
from core.redaction import REDACTED, redact, scrub_text
from services.ai import minimise

pytestmark = pytest.mark.no_db

JWT = ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9."
       "c2lnbmF0dXJlLXNpZ25hdHVyZQ")


@pytest.mark.parametrize("secret", [
    "ada@example.com", "+1 415 555 0134", "(415) 555-0134", "+44 20 7946 0958",
    f"Bearer {JWT}", JWT, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "rlk_pat_abcdefghijkl123",
    "rlk_oat_ZZZZZZZZ", "sk_live_51Habcdefghijk",
])
def test_personal_and_secret_values_are_scrubbed_from_any_text(secret: str) -> None:
    text = f"failed for {secret} at step 3"
    assert secret not in scrub_text(text)
    assert REDACTED in scrub_text(text)


@pytest.mark.parametrize("kept", [
    "SELECT id FROM leads WHERE organization_id = $1 LIMIT 21", "2026-12-03", "1,250,000",
    "query Me", "request 3f2a8b71-1234-4567-8910-111213141516", "POST /graphql",
])
def test_ordinary_text_is_kept(kept: str) -> None:
    assert scrub_text(kept) == kept


def test_sensitive_keys_are_dropped_at_any_depth_and_ids_kept() -> None:
    value = {"input": {"password": "x", "Email": "a", "lead.name": "Ada", "tags": ["ok"],
                       "address": {"line1": "12 Babbage Row"}},
             "user_id": "1234567-8901", "operation": "NewLead"}
    assert redact(value) == {"input": {"password": REDACTED, "Email": REDACTED,
                                       "lead.name": REDACTED, "tags": ["ok"],
                                       "address": REDACTED},
                             "user_id": "1234567-8901", "operation": "NewLead"}


def test_the_log_processor_applies_the_policy() -> None:
    event = {"event": "x", "variables": {"a": 1}, "detail": "call +1 415 555 0134",
             "request_id": "abcdefgh"}
    assert redact_sensitive(None, "info", event) == {
        "event": "x", "variables": REDACTED, "detail": f"call {REDACTED}",
        "request_id": "abcdefgh"}


def test_the_sentry_event_keeps_the_type_and_tags_not_the_message() -> None:
    event = {"exception": {"values": [{"type": "IntegrityError",
                                       "value": "Key (email)=(ada@example.com) exists"}]},
             "tags": {"request_id": "abcdefgh"}, "request": {"data": "x"}, "user": {"id": 1},
             "extra": {"password": "x"}}
    scrubbed = scrub_event(event)
    assert scrubbed == {"exception": {"values": [{"type": "IntegrityError",
                                                  "value": REDACTED}]},
                        "tags": {"request_id": "abcdefgh"}}


def test_the_ai_minimiser_uses_the_same_patterns() -> None:
    assert minimise.EMAIL is redaction.EMAIL
    assert minimise.LOOSE_PHONE is redaction.LOOSE_PHONE

