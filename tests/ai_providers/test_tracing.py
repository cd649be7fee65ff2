"""An AI provider call is one client span (docs/observability.md), with the model and the
provider's host, and none of the prompt, the answer or the key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from core.settings import Settings
from core.tracing import configure_tracing
from services.ai import AiProviderError, OpenAiCompatibleProvider, TextDelta, build_request
from tests.ai_fake import FAKE_BASE_URL, FakeOpenAI, fake_openai_client
from tests.ai_providers.conftest import Lead

pytestmark = pytest.mark.no_db
KEY = "sk-test-a1b2c3d4e5f6-do-not-leak"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert configure_tracing(Settings(env="test", trace_exporter=exporter))
    try:
        yield exporter
    finally:
        configure_tracing(Settings(env="test"))


async def test_a_provider_call_is_one_client_span_without_content(
        fake_openai: FakeOpenAI, lead: Lead, exporter: InMemorySpanExporter) -> None:
    provider = OpenAiCompatibleProvider(FAKE_BASE_URL, KEY, "fake-model-1", timeout=5.0,
                                        http_client=fake_openai_client(fake_openai))
    request = build_request("summary", lead.context)
    texts = [item.text async for item in provider.stream(request) if isinstance(item, TextDelta)]
    assert "".join(texts) == fake_openai.reply_text
    [span] = exporter.get_finished_spans()
    assert span.name == "chat fake-model-1"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "fake-model-1",
        "server.address": "fake-openai.test"}
    assert span.end_time is not None


async def test_a_failed_call_ends_its_span_as_an_error(
        fake_openai: FakeOpenAI, lead: Lead, exporter: InMemorySpanExporter) -> None:
    fake_openai.fail_with(500, {"error": {"message": "boom", "type": "server_error"}})
    provider = OpenAiCompatibleProvider(FAKE_BASE_URL, KEY, "fake-model-1", timeout=5.0,
                                        http_client=fake_openai_client(fake_openai))
    with pytest.raises(AiProviderError):
        async for _ in provider.stream(build_request("summary", lead.context)):
            pass
    [span] = exporter.get_finished_spans()
    assert span.status.description == "AiProviderError"
