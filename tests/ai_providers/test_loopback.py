"""End to end over TCP: the fake served by uvicorn on 127.0.0.1, the provider built from the
settings as the server builds it, the real client and its own HTTP stack."""

from __future__ import annotations

import json
import time

import pytest

from core.settings import Settings
from services.ai import TextDelta, Usage, build_request, provider_from_settings
from tests.ai_fake import FakeOpenAI
from tests.ai_providers.conftest import Lead, leaked

pytestmark = pytest.mark.no_db


async def test_a_summary_streams_from_a_server_on_loopback(
        fake_openai: FakeOpenAI, fake_openai_server: str, lead: Lead) -> None:
    assert fake_openai_server.startswith("http://127.0.0.1:")
    fake_openai.chunks, fake_openai.chunk_delay = 5, 0.1
    settings = Settings.from_env({"AI_BASE_URL": fake_openai_server, "AI_MODEL": "loop-model",
                                  "AI_API_KEY": "sk-loopback", "AI_TIMEOUT_SECONDS": "5"})
    provider = provider_from_settings(settings)
    assert provider is not None and not provider.is_local
    arrivals: list[tuple[float, TextDelta | Usage]] = []
    async for item in provider.stream(build_request("summary", lead.context)):
        arrivals.append((time.monotonic(), item))
    *deltas, (_, usage) = arrivals
    assert "".join(item.text for _, item in deltas if isinstance(item, TextDelta)) \
        == fake_openai.reply_text
    assert len(deltas) == 5 and usage == Usage(
        fake_openai.usage_of(fake_openai.requests[0])["prompt_tokens"], 5)
    assert deltas[-1][0] - deltas[0][0] >= 0.3  # pieces came as produced, not all at the end
    (body,) = fake_openai.requests
    assert body["store"] is False and body["model"] == "loop-model"
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-loopback"
    assert leaked(json.dumps(body, ensure_ascii=False), lead.contact) == []
