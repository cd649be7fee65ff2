"""The built-in provider of a machine with no AI configured: labelled, streamed, the same every
time, and blind to contact data it was never given."""

from __future__ import annotations

import pytest

from services.ai import (
    LOCAL_LABEL,
    LocalProvider,
    TextDelta,
    Usage,
    build_request,
    mask_text,
    parse_next_steps,
)
from services.ai.types import AiRequest, Feature
from tests.ai_providers.conftest import MEMBERS, Lead, leaked, minimised_lead

pytestmark = pytest.mark.no_db
FEATURES: list[Feature] = ["summary", "next_steps", "draft_email"]


async def run(request: AiRequest) -> tuple[list[str], Usage]:
    items = [item async for item in LocalProvider().stream(request)]
    *deltas, usage = items
    assert isinstance(usage, Usage)
    assert all(isinstance(delta, TextDelta) for delta in deltas)
    return [delta.text for delta in deltas if isinstance(delta, TextDelta)], usage


def request_for(feature: Feature, lead: Lead) -> AiRequest:
    purpose = mask_text("pricing for Charles's team, call +44 20 7946 0958",
                        member_names=MEMBERS, region="GB")
    return build_request(feature, lead.context,
                         purpose=purpose if feature == "draft_email" else None)


@pytest.mark.parametrize("feature", FEATURES)
async def test_every_answer_is_labelled_and_streamed_word_by_word(
        lead: Lead, feature: Feature) -> None:
    texts, usage = await run(request_for(feature, lead))
    text = "".join(texts)
    assert text.startswith(LOCAL_LABEL)
    assert len(texts) > 5
    assert usage.output_tokens == len(text.split())
    assert usage.input_tokens == sum(len(m["content"].split())
                                     for m in request_for(feature, lead).messages)


@pytest.mark.parametrize("feature", FEATURES)
async def test_the_same_request_gives_the_same_answer(lead: Lead, feature: Feature) -> None:
    assert await run(request_for(feature, lead)) == await run(request_for(feature, lead))


@pytest.mark.parametrize("feature", FEATURES)
async def test_no_contact_data_comes_out(lead: Lead, feature: Feature) -> None:
    texts, _ = await run(request_for(feature, lead))
    assert leaked("".join(texts), lead.contact) == []


async def test_the_summary_says_who_where_and_what_the_newest_notes_say(lead: Lead) -> None:
    texts, _ = await run(request_for("summary", lead))
    text = "".join(texts)
    assert "Ada Lovelace at Analytical Engines Ltd: status qualified, from form, created " \
           "2026-11-02. 4 note(s)." in text
    assert "- Called Ada on [PHONE_1] (her office) and on [PHONE_1]; she prefers [PHONE_1]." \
        in text


async def test_next_steps_are_json_the_parser_reads() -> None:
    context, _ = minimised_lead(company=None, notes=[], status="new")
    texts, _ = await run(build_request("next_steps", context))
    steps = parse_next_steps("".join(texts))
    assert [step["action"] for step in steps] == [
        "Make first contact", "Write a note about the last conversation",
        "Find out the lead's company"]
    assert all(step["reason"] for step in steps)


async def test_the_draft_uses_the_masked_purpose_and_a_signature_placeholder(lead: Lead) -> None:
    texts, _ = await run(request_for("draft_email", lead))
    text = "".join(texts)
    assert "Subject: Following up: pricing for [MEMBER]'s team, call [PHONE_1]" in text
    assert "Hello Ada Lovelace," in text and text.endswith("[YOUR_NAME]")


def test_it_says_it_is_local() -> None:
    provider = LocalProvider()
    assert (provider.name, provider.model, provider.is_local) == (
        "local", "local-extractive-1", True)
