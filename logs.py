"""Structured JSON logs through structlog, with secrets and personal data redacted.

One line per request (see `web/middleware.py`) plus events. A processor drops the value of any key
that can hold a password, a token or a lead's personal data, so a careless `log.info(**input)`
cannot write them to disk.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset({
    "password", "new_password", "current_password", "token", "access_token", "refresh_token",
    "authorization", "cookie", "set_cookie", "secret", "email", "phone", "address", "notes",
    "birth_date", "variables", "csrf",
})


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in SENSITIVE_KEYS else _redact(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_sensitive(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in SENSITIVE_KEYS:
            event[key] = REDACTED
        else:
            event[key] = _redact(event[key])
    return event


def configure_logging(level: str = "INFO") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_sensitive,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=lambda obj, **_: orjson.dumps(
                obj, default=str).decode()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
