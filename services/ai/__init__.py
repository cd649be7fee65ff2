"""AI features' provider layer (issue 20): what may be sent, how it is asked, and who answers.

`types` holds the shapes the domain and the providers share; `providers` the OpenAI-compatible
and local providers and `provider_from_settings`; `minimise` turns a lead into a `LeadContext`
with no contact data; `prompts` builds the versioned requests and reads the answers. Nothing
here stores anything or knows about GraphQL: the domain (`resolvers/ai.py`) does.
"""

from __future__ import annotations

from services.ai.minimise import NOTES_MANIFEST, mask_text, minimise_lead
from services.ai.prompts import PROMPT_VERSIONS, build_request, input_hash, parse_next_steps
from services.ai.providers import (
    LOCAL_LABEL,
    LOCAL_MODEL,
    LocalProvider,
    OpenAiCompatibleProvider,
    estimate_tokens,
    provider_from_settings,
)
from services.ai.types import (
    AiProvider,
    AiProviderError,
    AiRequest,
    Feature,
    LeadContext,
    TextDelta,
    Usage,
)

__all__ = [
    "LOCAL_LABEL",
    "LOCAL_MODEL",
    "NOTES_MANIFEST",
    "PROMPT_VERSIONS",
    "AiProvider",
    "AiProviderError",
    "AiRequest",
    "Feature",
    "LeadContext",
    "LocalProvider",
    "OpenAiCompatibleProvider",
    "TextDelta",
    "Usage",
    "build_request",
    "estimate_tokens",
    "input_hash",
    "mask_text",
    "minimise_lead",
    "parse_next_steps",
    "provider_from_settings",
]
