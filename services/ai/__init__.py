"""AI features' provider layer (issue 20): what may be sent, how it is asked, and who answers.

`types` holds the shapes the domain and the providers share; `providers` the OpenAI-compatible
and local providers and `provider_from_settings`; `minimise` turns a lead into a `LeadContext`
with no contact data; `prompts` builds the versioned requests and reads the answers. Nothing
here stores anything or knows about GraphQL: the domain (`resolvers/ai.py`) does.
"""

from __future__ import annotations

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
    "AiProvider",
    "AiProviderError",
    "AiRequest",
    "Feature",
    "LeadContext",
    "LocalProvider",
    "OpenAiCompatibleProvider",
    "TextDelta",
    "Usage",
    "estimate_tokens",
    "provider_from_settings",
]
