"""The real `openai` client against the fake chat completions server, through httpx2's ASGI
transport: what is sent, how the stream comes back, and how each failure reads."""

from __future__ import annotations

import json
import logging

import pytest

from services.ai import (
    AiProviderError,
    OpenAiCompatibleProvider,
    TextDelta,
    Usage,
    build_request,
    estimate_tokens,
    parse_next_steps,
)
from services.ai.types import AiRequest
from tests.ai_fake import (
    BAD_KEY,
    CONTENT_FILTER,
    CONTEXT_LENGTH,
    FAKE_BASE_URL,
    RATE_LIMITED,
    SERVER_ERROR,
    FakeOpenAI,
    fake_openai_client,
)
from tests.ai_providers.conftest import Lead, leaked

pytestmark = pytest.mark.no_db
KEY = "sk-test-a1b2c3d4e5f6-do-not-leak"


def provider(fake: FakeOpenAI, *, key: str | None = KEY,
             timeout: float = 5.0) -> OpenAiCompatibleProvider:
    return OpenAiCompatibleProvider(FAKE_BASE_URL, key, "fake-model-1", timeout=timeout,
                                    http_client=fake_openai_client(fake))


async def collect(provider: OpenAiCompatibleProvider,
                  request: AiRequest) -> tuple[list[str], list[Usage]]:
    texts: list[str] = []
    usages: list[Usage] = []
    async for item in provider.stream(request):
        assert not usages, "nothing may follow the usage"
        if isinstance(item, TextDelta):
            texts.append(item.text)
        else:
            usages.append(item)
    return texts, usages


async def test_the_answer_streams_in_pieces_with_the_providers_usage_last(
        fake_openai: FakeOpenAI, lead: Lead) -> None:
    fake_openai.chunks = 5
    request = build_request("summary", lead.context)
    texts, usages = await collect(provider(fake_openai), request)
    assert len(texts) == 5
    assert "".join(texts) == fake_openai.reply_text
    reported = fake_openai.usage_of(fake_openai.requests[0])
    assert usages == [Usage(input_tokens=reported["prompt_tokens"], output_tokens=5)]


async def test_without_usage_from_the_provider_tokens_are_estimated(
        fake_openai: FakeOpenAI, lead: Lead) -> None:
    fake_openai.omit_usage = True
    request = build_request("summary", lead.context)
    texts, usages = await collect(provider(fake_openai), request)
    assert "".join(texts) == fake_openai.reply_text
    sent = "".join(message["content"] for message in request.messages)
    assert usages == [Usage(estimate_tokens(sent), estimate_tokens(fake_openai.reply_text))]
    assert usages[0].output_tokens == (len(fake_openai.reply_text) + 3) // 4


async def test_the_request_asks_for_no_storage_and_names_the_model(
        fake_openai: FakeOpenAI, lead: Lead) -> None:
    await collect(provider(fake_openai), build_request("summary", lead.context))
    (body,) = fake_openai.requests
    assert body["store"] is False
    assert body["model"] == "fake-model-1"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 400 and "max_tokens" not in body
    assert "response_format" not in body
    assert fake_openai.headers[0]["authorization"] == f"Bearer {KEY}"


async def test_next_steps_asks_for_json_and_its_answer_is_parsed(
        fake_openai: FakeOpenAI, lead: Lead) -> None:
    steps = [{"action": "Send the proposal", "reason": "She asked for pricing."}]
    fake_openai.reply_text = "```json\n" + json.dumps({"steps": steps}) + "\n```"
    texts, _ = await collect(provider(fake_openai), build_request("next_steps", lead.context))
    assert fake_openai.requests[0]["response_format"] == {"type": "json_object"}
    assert parse_next_steps("".join(texts)) == steps


async def test_a_self_hosted_server_needs_no_key(fake_openai: FakeOpenAI, lead: Lead) -> None:
    texts, _ = await collect(provider(fake_openai, key=None),
                             build_request("summary", lead.context))
    assert texts and fake_openai.headers[0]["authorization"] == "Bearer no-key"


@pytest.mark.parametrize("feature", ["summary", "next_steps", "draft_email"])
async def test_no_contact_data_of_the_lead_reaches_the_provider(
        fake_openai: FakeOpenAI, lead: Lead, feature: str) -> None:
    request = build_request(feature, lead.context, purpose="the demo"  # type: ignore[arg-type]
                            if feature == "draft_email" else None)
    await collect(provider(fake_openai), request)
    sent = json.dumps(fake_openai.requests, ensure_ascii=False)
    assert leaked(sent, lead.contact) == []
    assert lead.context.lead_id not in sent
    assert "[EMAIL_1]" in sent and "[PHONE_1]" in sent  # masked, not dropped


@pytest.mark.parametrize(("status", "body", "words"), [
    (429, RATE_LIMITED, "busy"),
    (500, SERVER_ERROR, "unavailable"),
    (503, SERVER_ERROR, "unavailable"),
    (401, BAD_KEY, "credentials"),
    (403, BAD_KEY, "credentials"),
    (404, {"error": {"message": "The model `fake-model-1` does not exist"}}, "configuration"),
])
async def test_provider_failures_are_unavailable_with_a_plain_message(
        fake_openai: FakeOpenAI, lead: Lead, status: int, body: object, words: str) -> None:
    fake_openai.fail_with(status, body)
    request = build_request("summary", lead.context)
    with pytest.raises(AiProviderError) as caught:
        await collect(provider(fake_openai), request)
    assert caught.value.code == "UNAVAILABLE"
    assert words in caught.value.message
    shown = f"{caught.value} {caught.value.message} {caught.value!r}"
    assert KEY not in shown and "sk-te" not in shown
    assert lead.context.notes[0][:30] not in shown and "Ada" not in shown
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(fake_openai.requests) == 1  # no retries: the domain decides


@pytest.mark.parametrize(("body", "words"), [
    (CONTENT_FILTER, "content filter"), (CONTEXT_LENGTH, "too long"),
    ({"error": {"message": "Invalid value for 'temperature'"}}, "refused"),
])
async def test_provider_refusals_are_bad_user_input(
        fake_openai: FakeOpenAI, lead: Lead, body: object, words: str) -> None:
    fake_openai.fail_with(400, body)
    with pytest.raises(AiProviderError) as caught:
        await collect(provider(fake_openai), build_request("summary", lead.context))
    assert caught.value.code == "BAD_USER_INPUT"
    assert words in caught.value.message
    assert "maximum context length" not in caught.value.message


async def test_a_stream_stopped_by_the_content_filter_is_bad_user_input(
        fake_openai: FakeOpenAI, lead: Lead) -> None:
    fake_openai.finish_reason = "content_filter"
    with pytest.raises(AiProviderError) as caught:
        await collect(provider(fake_openai), build_request("summary", lead.context))
    assert caught.value.code == "BAD_USER_INPUT"


@pytest.mark.parametrize(("reply", "events", "words"), [
    ("", None, "empty answer"),
    ("ignored", ['{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", '
                 '"choices": [{"index": 0, "delta": {"content": "Hi"}}]}', "<html>oops"],
     "could not be read"),
    ("ignored", ['{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", '
                 '"choices": null}', "[DONE]"], "empty answer"),
])
async def test_an_empty_or_unreadable_stream_is_unavailable(
        fake_openai: FakeOpenAI, lead: Lead, reply: str, events: list[str] | None,
        words: str) -> None:
    fake_openai.reply_text, fake_openai.raw_events = reply, events
    with pytest.raises(AiProviderError) as caught:
        await collect(provider(fake_openai), build_request("summary", lead.context))
    assert caught.value.code == "UNAVAILABLE"
    assert words in caught.value.message


async def test_a_provider_that_does_not_answer_in_time_is_unavailable(
        fake_openai: FakeOpenAI, lead: Lead) -> None:
    fake_openai.delay = 2.0
    with pytest.raises(AiProviderError) as caught:
        await collect(provider(fake_openai, timeout=0.2), build_request("summary", lead.context))
    assert caught.value.code == "UNAVAILABLE"
    assert "in time" in caught.value.message


async def test_neither_prompt_nor_key_is_logged_even_at_debug(
        fake_openai: FakeOpenAI, lead: Lead, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openai.fail_with(429, RATE_LIMITED)
    subject = provider(fake_openai)
    with pytest.raises(AiProviderError):
        await collect(subject, build_request("summary", lead.context))
    fake_openai.failure = None
    await collect(subject, build_request("summary", lead.context))
    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    assert KEY not in logged
    assert "Lovelace" not in logged and "notesNewestFirst" not in logged
    assert KEY not in repr(subject)
