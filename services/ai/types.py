"""The shapes shared by the AI provider layer and the domain that calls it (issue 20).

Why a module of its own: the domain (`resolvers/ai.py`) and the providers (`providers.py`) meet
only here, so either side can change without reading the other. Every `LeadContext` is already
minimised (`minimise.py`): nothing in this module ever holds the lead's email, phone or address.

    request = build_request("summary", context)          # services/ai/prompts.py
    async for item in provider.stream(request):
        if isinstance(item, TextDelta): ...               # text as it is produced
        else: usage = item                                # exactly one Usage, last
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

Feature = Literal["summary", "next_steps", "draft_email"]
ErrorCode = Literal["UNAVAILABLE", "BAD_USER_INPUT"]


@dataclass(frozen=True)
class LeadContext:
    """What a provider may see of one lead: already minimised, no email, phone, address or
    member names. `placeholders` maps each placeholder to its kind (`{"[EMAIL_1]": "email"}`);
    the values they stand for are never kept."""

    lead_id: str
    """Opaque global id, for the caller's bookkeeping: never sent to the provider."""
    name: str
    company: str | None
    status: str
    source: str | None
    created_at: str
    """ISO date."""
    notes: list[str] = field(default_factory=list)
    """Newest first, at most 20, each masked and cut to 2,000 characters."""
    placeholders: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AiRequest:
    """One call: the chat messages built from `context` (`prompts.build_request`), and the
    context itself so the local provider can answer without parsing its own prompt."""

    feature: Feature
    prompt_version: str
    messages: list[dict[str, str]]
    context: LeadContext
    purpose: str | None = None
    """draft_email only, masked."""
    max_output_tokens: int = 600
    json_output: bool = False
    """next_steps: the answer is JSON `{"steps": [{"action", "reason"}]}`."""


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer, in the order produced."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Tokens of one call, the last item of every stream (estimated when the provider sent
    none: `providers.estimate_tokens`)."""

    input_tokens: int
    output_tokens: int


class AiProviderError(Exception):
    """A call that failed in a way the caller can name: `code` is "UNAVAILABLE" (provider down,
    timeout, 5xx, rate-limited by the provider, authentication failure) or "BAD_USER_INPUT"
    (the provider refused: content filter, context too long, an unreadable answer). `message`
    is a human sentence with no provider internals, no key and no prompt text, so the domain
    can show it as is."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


class AiProvider(Protocol):
    """What the domain calls: `OpenAiCompatibleProvider` or `LocalProvider`."""

    name: str
    """"openai-compatible" or "local"."""
    model: str
    """AI_MODEL, or "local-extractive-1"."""
    is_local: bool

    def stream(self, request: AiRequest) -> AsyncIterator[TextDelta | Usage]:
        """Yields TextDelta chunks as produced, then exactly one Usage last. Raises
        AiProviderError."""
        ...
