"""Structured JSON logs through structlog, with secrets and personal data redacted.

One line per request (see `web/middleware.py`) plus events, all JSON on stdout. A processor drops
the value of any key that can hold a password, a token or a lead's personal data, so a careless
`log.info(**input)` cannot write them to disk. Records from the standard library's `logging`
(uvicorn, Tortoise, asyncio) go through the same processors, and uvicorn's own access log is
silenced: it prints the query string, which for a GET request holds the GraphQL variables.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

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
        return {k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _redact(v)
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


def _render(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is now (test runners swap it), not the one at start-up."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def _route_stdlib_logging(level: int, shared: list[Any]) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StdoutHandler)), None)
    if handler is None:
        handler = _StdoutHandler()
        root.addHandler(handler)
    handler.setLevel(level)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact_sensitive,
                    structlog.processors.JSONRenderer(serializer=_render)],
    ))
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.setLevel(logging.WARNING)


def configure_logging(level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # before redaction, which rewrites tuples
            redact_sensitive,
            structlog.processors.JSONRenderer(serializer=_render),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # No file given: each line goes to the `sys.stdout` of the moment (test runners swap it).
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(numeric, shared)
