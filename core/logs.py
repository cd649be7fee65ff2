"""Structured JSON logs through structlog, with secrets and personal data redacted.

One line per request (see `web/middleware.py`) plus events, all JSON on stdout. A processor applies
the one redaction policy (`core/redaction.py`): it drops the value of any key that can hold a
password, a token or a lead's personal data, and scrubs emails, phone numbers and tokens from any
other text, so a careless `log.info(**input)` cannot write them to disk. Inside a traced request
or job every line carries `trace_id` and `span_id` (`core/tracing.py`). Records from the standard
library's `logging` (uvicorn, Tortoise, asyncio) go through the same processors, and uvicorn's own
access log is silenced: it prints the query string, which for a GET request holds the GraphQL
variables.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from core.redaction import REDACTED, opaque_key, redact, sensitive_key
from core.tracing import current_trace_ids

__all__ = ["REDACTED", "configure_logging", "redact_sensitive"]

KEPT = frozenset({"event", "timestamp", "level", "logger", "trace_id", "span_id",
                  "request_id"})
"""Fields written by us, never personal: not scrubbed."""


def redact_sensitive(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key in KEPT or (opaque_key(key) and isinstance(event[key], str)):
            continue
        if sensitive_key(key):
            event[key] = REDACTED
        else:
            event[key] = redact(event[key])
    return event


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`trace_id` and `span_id` of the span in progress, when tracing is on and one is."""
    ids = current_trace_ids()
    if ids is not None:
        event.setdefault("trace_id", ids[0])
        event.setdefault("span_id", ids[1])
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
        add_trace_ids,
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_trace_ids,
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
