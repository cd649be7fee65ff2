"""The two AI providers and the choice between them (`provider_from_settings`).

Why two: a hosted or self-hosted model behind an OpenAI-compatible endpoint is what production
uses (`OpenAiCompatibleProvider`, the official `openai` client); a fresh machine with nothing
configured still gets answers from `LocalProvider`, a few extractive rules over the lead's own
(already minimised) data, labelled `LOCAL_LABEL` so nobody takes them for a model's.

    provider = provider_from_settings(settings)     # None: production with no provider
    async for item in provider.stream(build_request("summary", context)):
        ...                                           # TextDelta..., then one Usage

Neither provider logs prompts or answers; the `openai` logger is held at INFO because at DEBUG
the library logs whole request bodies. Errors come out as `AiProviderError` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import httpx2
import openai

from core import tracing
from core.settings import Settings
from services.ai.types import AiProvider, AiProviderError, AiRequest, LeadContext, TextDelta, Usage

LOCAL_LABEL = "[Local extractive draft — no AI provider configured]"
LOCAL_MODEL = "local-extractive-1"
TIMEOUT_MESSAGE = "The AI provider did not answer in time: try again later."
UNREADABLE_STREAM = "The AI provider sent an answer that could not be read: try again later."
EMPTY_ANSWER = "The AI provider sent an empty answer: try again later."
NO_KEY = "no-key"
"""Sent as the bearer token to a self-hosted server that needs none (the client wants one)."""

# The library logs each request's JSON body (the prompt) at DEBUG, whatever LOG_LEVEL says.
logging.getLogger("openai").setLevel(logging.INFO)


def estimate_tokens(text: str) -> int:
    """About four characters a token (OpenAI's rule of thumb): used only when a provider's
    stream carries no usage, so credits are still charged on something close to the truth."""
    return max(1, (len(text) + 3) // 4) if text else 0


def _refusal(exc: openai.APIStatusError) -> AiProviderError:
    """A 4xx that says the request itself was refused, told apart by the provider's code or
    message (read here, never repeated to the caller)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    words = " ".join(str(part) for part in (getattr(exc, "code", None), detail.get("code"),
                                            detail.get("type"), exc.message)).lower()
    if "content_filter" in words or "content_policy" in words or "content management" in words:
        return AiProviderError("BAD_USER_INPUT", "The AI provider's content filter refused "
                               "this request.")
    if "context" in words or "too long" in words or "too many tokens" in words:
        return AiProviderError("BAD_USER_INPUT", "The lead's notes are too long for the AI "
                               "provider: shorten or remove some notes and try again.")
    return AiProviderError("BAD_USER_INPUT", "The AI provider refused this request.")


def provider_error(exc: Exception) -> AiProviderError:
    """The caller's view of an `openai` (or transport) exception: what failed, in a sentence,
    never the provider's own text (it may quote the prompt) nor the key."""
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return AiProviderError("UNAVAILABLE", TIMEOUT_MESSAGE)
    if isinstance(exc, openai.RateLimitError):
        return AiProviderError("UNAVAILABLE", "The AI provider is busy (rate limited): try "
                               "again later.")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return AiProviderError("UNAVAILABLE", "The AI provider refused our credentials: an "
                               "administrator must check the AI configuration.")
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError) or (
            isinstance(exc, openai.APIStatusError) and exc.status_code == 413):
        return _refusal(exc)
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return AiProviderError("UNAVAILABLE", "The AI provider cannot serve this request "
                               "now: an administrator must check the AI configuration.")
    return AiProviderError("UNAVAILABLE", "The AI provider is unavailable: try again later.")


class OpenAiCompatibleProvider:
    """Any server speaking OpenAI's chat completions (OpenAI, Azure OpenAI, Mistral, vLLM,
    Ollama, llama.cpp...), through the official client with its retries off (the domain
    decides about retrying, and a failed call must charge nothing). `http_client` is an
    `httpx2` client (the HTTP library `openai` 3 is built on): tests pass one over an ASGI
    transport.

    Every request carries `store: false` (OpenAI keeps no copy for its dashboard or
    distillation; servers that do not know the field ignore it) and nothing that identifies
    the lead (`docs/ai-providers.md`). The answer's length is capped with
    `max_completion_tokens` (OpenAI's current field; its reasoning models refuse the older
    `max_tokens` with a 400, while servers that only know `max_tokens`, such as Ollama,
    ignore it and the prompts' own "short" has to do).

    `timeout` bounds the wait for the answer to start and then for each piece (here as well
    as in the client, so it holds whatever transport `http_client` uses): a stream that
    stops producing fails after `timeout` seconds."""

    name = "openai-compatible"
    is_local = False

    def __init__(self, base_url: str, api_key: str | None, model: str, timeout: float = 30.0,
                 http_client: httpx2.AsyncClient | None = None) -> None:
        self.model = model
        self._timeout = timeout
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or NO_KEY,
                                          timeout=timeout, max_retries=0,
                                          http_client=http_client)

    def __repr__(self) -> str:  # never the key
        return f"OpenAiCompatibleProvider(base_url={str(self._client.base_url)!r}, " \
               f"model={self.model!r})"

    async def stream(self, request: AiRequest) -> AsyncIterator[TextDelta | Usage]:
        """TextDelta per content chunk, then one Usage (the provider's, or `estimate_tokens`
        of the messages and the answer when its stream carries none). An answer with no text
        at all is UNAVAILABLE, like one that is not a chat completions stream."""
        options: dict[str, Any] = {}
        if request.json_output:
            options["response_format"] = {"type": "json_object"}
        produced: list[str] = []
        usage: Usage | None = None
        # Not the current span: it lasts across this generator's yields.
        span = tracing.detached_span(f"chat {self.model}", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": self.model,
            "server.address": self._client.base_url.host})
        try:
            async with contextlib.aclosing(self._stream(request, options, produced)) as items:
                async for item in items:
                    if isinstance(item, Usage):
                        usage = item
                    else:
                        yield item
        except Exception as exc:
            if span is not None:
                span.set_status(tracing.Status(tracing.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            if span is not None:
                span.end()
        if not produced:
            raise AiProviderError("UNAVAILABLE", EMPTY_ANSWER)
        if usage is None:
            sent = "".join(message.get("content", "") for message in request.messages)
            usage = Usage(estimate_tokens(sent), estimate_tokens("".join(produced)))
        yield usage

    async def _stream(self, request: AiRequest, options: dict[str, Any],
                      produced: list[str]) -> AsyncGenerator[TextDelta | Usage, None]:
        """The provider's stream: TextDelta per content chunk, and its Usage when it sent one."""
        usage: Usage | None = None
        try:
            stream = await asyncio.wait_for(self._client.chat.completions.create(
                model=self.model, messages=cast(Any, request.messages), stream=True,
                stream_options={"include_usage": True}, store=False,
                max_completion_tokens=request.max_output_tokens, **options), self._timeout)
            async with stream:
                chunks = aiter(stream)
                while True:
                    try:
                        chunk = await asyncio.wait_for(anext(chunks), self._timeout)
                    except StopAsyncIteration:
                        break
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices or ():
                        if choice.finish_reason == "content_filter":
                            raise AiProviderError("BAD_USER_INPUT", "The AI provider's content "
                                                  "filter refused this request.")
                        text = choice.delta.content if choice.delta else None
                        if text:
                            produced.append(text)
                            yield TextDelta(text)
        except TimeoutError:
            raise AiProviderError("UNAVAILABLE", TIMEOUT_MESSAGE) from None
        except AiProviderError:
            raise
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise provider_error(exc) from None
        except ValueError:  # a stream event that is not JSON: not a chat completions server
            raise AiProviderError("UNAVAILABLE", UNREADABLE_STREAM) from None
        if usage is not None:
            yield usage


class LocalProvider:
    """Answers from `request.context` alone with fixed rules (no model, no network), so the
    features can be tried on a fresh machine. The same request always gives the same answer,
    streamed word by word; usage counts words. It sees only the minimised context, so it
    cannot repeat contact data it was never given."""

    name = "local"
    model = LOCAL_MODEL
    is_local = True

    async def stream(self, request: AiRequest) -> AsyncIterator[TextDelta | Usage]:
        text = f"{LOCAL_LABEL}\n\n{_local_answer(request)}"
        words = re.findall(r"\S+\s*|\s+", text)
        for word in words:
            yield TextDelta(word)
            await asyncio.sleep(0)  # let the subscriber see each piece as it comes
        sent = sum(len(message.get("content", "").split()) for message in request.messages)
        yield Usage(sent, len(text.split()))


def _first_sentence(note: str, limit: int = 200) -> str:
    sentence = re.split(r"(?<=[.!?])\s", " ".join(note.split()), maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def _local_answer(request: AiRequest) -> str:
    context = request.context
    if request.feature == "next_steps":
        return json.dumps({"steps": _local_steps(context)}, ensure_ascii=False)
    if request.feature == "draft_email":
        purpose = request.purpose or "our recent conversation"
        return (f"Subject: Following up: {purpose}\n\nHello {context.name},\n\n"
                f"I am writing about {purpose}. Would you have time for a short call this "
                "week?\n\nBest regards,\n[YOUR_NAME]")
    at = f" at {context.company}" if context.company else ""
    source = f", from {context.source}" if context.source else ""
    lines = [f"{context.name}{at}: status {context.status}{source}, created "
             f"{context.created_at}. {len(context.notes)} note(s)."]
    lines += [f"- {_first_sentence(note)}" for note in context.notes[:3]]
    return "\n".join(lines)


_STATUS_STEPS = {
    "new": ("Make first contact", "The lead has not been contacted yet."),
    "contacted": ("Follow up", "The lead was contacted; a follow-up keeps the conversation going."),
    "qualified": ("Send a proposal", "The lead is qualified and ready for an offer."),
    "won": ("Plan the onboarding", "The deal is won; a good start keeps the customer."),
    "lost": ("Ask for feedback", "Learning why the deal was lost helps the next one."),
}


def _local_steps(context: LeadContext) -> list[dict[str, str]]:
    action, reason = _STATUS_STEPS.get(context.status.lower(),
                                       ("Review the lead", "Its status is not a usual one."))
    steps = [{"action": action, "reason": reason}]
    if not context.notes:
        steps.append({"action": "Write a note about the last conversation",
                      "reason": "The lead has no notes yet."})
    if not context.company:
        steps.append({"action": "Find out the lead's company",
                      "reason": "No company is recorded."})
    if len(steps) < 3:
        steps.append({"action": "Schedule the next touchpoint",
                      "reason": "A date in the calendar keeps the lead from going cold."})
    return steps[:3]


def provider_from_settings(settings: Settings) -> AiProvider | None:
    """The configured provider: OpenAI-compatible when AI_BASE_URL and AI_MODEL are set
    (AI_API_KEY is optional for self-hosted servers); the local one when nothing is set
    outside production; None in production without a provider (the features answer
    UNAVAILABLE)."""
    if settings.ai_base_url and settings.ai_model:
        return OpenAiCompatibleProvider(settings.ai_base_url, settings.ai_api_key,
                                        settings.ai_model, timeout=settings.ai_timeout_seconds)
    if settings.production:
        return None
    return LocalProvider()
