"""The versioned prompts, the provenance hash and the reading of next-steps answers."""

from __future__ import annotations

import hashlib
import json

import pytest

from services.ai import (
    LOCAL_LABEL,
    PROMPT_VERSIONS,
    AiProviderError,
    build_request,
    input_hash,
    parse_next_steps,
)
from tests.ai_providers.conftest import Lead, minimised_lead

pytestmark = pytest.mark.no_db


def test_each_feature_has_its_version_and_shape(lead: Lead) -> None:
    assert PROMPT_VERSIONS == {"summary": "summary/1", "next_steps": "next_steps/1",
                               "draft_email": "draft_email/1"}
    for feature, version in PROMPT_VERSIONS.items():
        request = build_request(feature, lead.context, purpose="the demo")
        assert request.prompt_version == version
        assert [m["role"] for m in request.messages] == ["system", "user"]
        assert request.json_output == (feature == "next_steps")
        assert request.context is lead.context
        assert "[EMAIL_1]" in request.messages[0]["content"]  # keep placeholders as they are
        assert "never invent" in request.messages[0]["content"]
        assert lead.context.lead_id not in json.dumps(request.messages)
        lead_data = json.loads(request.messages[1]["content"])
        assert lead_data["lead"]["notesNewestFirst"] == lead.context.notes
        assert ("emailPurpose" in lead_data) == (feature == "draft_email")
        assert request.purpose == ("the demo" if feature == "draft_email" else None)
    assert "JSON" in build_request("next_steps", lead.context).messages[0]["content"]


def test_the_input_hash_is_the_sha256_of_the_canonical_messages(lead: Lead) -> None:
    request = build_request("summary", lead.context)
    canonical = json.dumps(request.messages, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    assert input_hash(request) == hashlib.sha256(canonical.encode()).hexdigest()
    assert input_hash(request) == input_hash(build_request("summary", lead.context))
    other, _ = minimised_lead(notes=["Another note"])
    assert input_hash(build_request("summary", other)) != input_hash(request)
    assert len(input_hash(request)) == 64


STEPS = [{"action": "Call back", "reason": "She asked."},
         {"action": "Send pricing", "reason": "Budget is set."},
         {"action": "Book a demo", "reason": "Before the 15th."},
         {"action": "Fourth", "reason": "Too many."}]


@pytest.mark.parametrize("text", [
    json.dumps({"steps": STEPS}),
    "```json\n" + json.dumps({"steps": STEPS}, indent=2) + "\n```",
    f"{LOCAL_LABEL}\n\n" + json.dumps({"steps": STEPS}),
    "Here are my suggestions: " + json.dumps({"steps": STEPS}) + " Good luck!",
])
def test_next_steps_are_read_from_json_however_wrapped(text: str) -> None:
    assert parse_next_steps(text) == STEPS[:3]


def test_steps_are_cleaned_and_cut() -> None:
    steps = parse_next_steps(json.dumps({"steps": [
        {"action": "  Call\n back ", "reason": "x" * 500}, {"action": "", "reason": "empty"},
        {"action": "No reason"}, "not an object", {"action": 42}]}))
    assert steps == [{"action": "Call back", "reason": "x" * 300},
                     {"action": "No reason", "reason": ""}]


@pytest.mark.parametrize("garbage", [
    "", "I cannot help with that.", "{not json}", '{"steps": []}', '{"steps": "call her"}',
    '{"other": [{"action": "x"}]}', "[1, 2, 3]", '{"steps": [{"reason": "no action"}]}',
    "}{",
])
def test_garbage_is_an_unreadable_answer(garbage: str) -> None:
    with pytest.raises(AiProviderError) as caught:
        parse_next_steps(garbage)
    assert caught.value.code == "BAD_USER_INPUT"
    assert caught.value.message == "The AI provider's answer could not be read"
