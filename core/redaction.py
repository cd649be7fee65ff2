"""The one redaction policy: what is personal or secret, for every sink that keeps diagnostics.

The logs (`core/logs.py`'s structlog processor), the exported spans (`core/tracing.py`'s
exporter filter), the error reports (`core/error_reports.py`'s `before_send`) and the AI
minimiser (`services/ai/minimise.py`, which takes its email and phone patterns from here) all
read this module, so one list says what never leaves the process:

- `SENSITIVE_KEYS`: keys whose value is dropped whole, wherever they appear (a log event's
  field, a span attribute's last dotted part, a Sentry event's nested dict);
- `scrub_text`: values that look personal or secret in any text (emails, phone numbers,
  bearer tokens, JWTs, our token prefixes and Stripe/webhook secrets) are replaced by
  `[redacted]`, whatever key they sit under.

docs/observability.md ("Redaction") lists the same and says what each sink keeps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import phonenumbers

REDACTED = "[redacted]"

SENSITIVE_KEYS = frozenset({
    # secrets
    "password", "new_password", "current_password", "old_password", "token", "access_token",
    "refresh_token", "id_token", "api_key", "apikey", "authorization", "cookie", "cookies",
    "set_cookie", "secret", "client_secret", "secret_key", "signing_secret", "csrf",
    "code_verifier", "otp", "session", "private_key",
    # personal data
    "email", "new_email", "phone", "address", "street", "city", "postal_code", "birth_date",
    "name", "first_name", "last_name", "full_name", "display_name", "company",
    "notes", "note", "body", "text", "message_body", "comment", "ip", "client_ip",
    "user_agent",
    # whole documents that hold any of the above
    "variables", "query_string", "data", "headers", "request_body", "response_body",
})
"""Keys whose value is never kept (compared in snake_case: `newPassword`, `New-Password`)."""

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
LOOSE_PHONE = re.compile(r"(?<![\w\[])(?:\+|\b)\(?\d[\d \t().\-/]{5,}\d(?![\w\]])")
"""A run of digits with the separators phone numbers are written with; a phone when it has 7
to 15 digits and is not a date or a thousands-grouped amount (`looks_like_phone`)."""
NOT_PHONE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
                       r"|\d{1,3}(?:[.,]\d{3})+")
BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]+")
JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
SECRET_PREFIXES = ("whsec_", "rlk_", "sk_live_", "sk_test_", "rk_live_",
                   "rk_test_", "pk_live_", "pk_test_")
"""Prefixes of secrets the project issues or holds: webhook signing secrets (`whsec_`), our
API and partner tokens, Stripe keys."""
PREFIXED_SECRET = re.compile(
    r"\b(?:" + "|".join(re.escape(p) for p in SECRET_PREFIXES) + r")[A-Za-z0-9_\-]{4,}")
PHONE_REGION = "US"


def looks_like_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    return 7 <= digits <= 15 and not NOT_PHONE.fullmatch(candidate.strip())


def opaque_key(key: object) -> bool:
    """Ids (`user_id`, `request_id`, ...) are opaque, not personal: their values are kept as
    they are (a UUID's digits could look like a phone number)."""
    name = str(key).lower()
    return name == "id" or name.endswith(("_id", ".id"))


CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def sensitive_key(key: object) -> bool:
    """Whether `key` (or its last dotted part) is in `SENSITIVE_KEYS`: GraphQL's camelCase
    (`newPassword`), kebab-case and dotted keys compare as snake_case."""
    name = CAMEL.sub("_", str(key)).lower().replace("-", "_")
    return name in SENSITIVE_KEYS or name.rsplit(".", 1)[-1] in SENSITIVE_KEYS


def scrub_text(text: str) -> str:
    """`text` with every email, phone number, bearer token, JWT and prefixed secret replaced
    by `[redacted]`. Phone numbers are found by phonenumbers' matcher, and by the loose digit
    pattern the AI minimiser uses (errs towards too much)."""
    if len(text) < 6:
        return text
    text = BEARER.sub(REDACTED, text)
    text = JWT.sub(REDACTED, text)
    text = PREFIXED_SECRET.sub(REDACTED, text)
    text = EMAIL.sub(REDACTED, text)
    if sum(ch.isdigit() for ch in text) >= 7:
        found = [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, PHONE_REGION)]
        for raw in found:
            text = text.replace(raw, REDACTED)
        text = LOOSE_PHONE.sub(
            lambda m: REDACTED if looks_like_phone(m.group(0)) else m.group(0), text)
    return text


def redact(value: Any, depth: int = 0) -> Any:
    """`value` with sensitive keys' values dropped and personal-looking text scrubbed, through
    dicts, lists and tuples (10 levels deep; deeper is dropped)."""
    if depth > 10:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if sensitive_key(k) else v if opaque_key(k) and isinstance(v, str)
                else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value]
    return value
