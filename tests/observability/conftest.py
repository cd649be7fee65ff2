"""Fixtures for the observability tests: the app with tracing on (every span goes to an
in-memory exporter, through the same redaction as the OTLP exporter) and error reports sent by
the real Sentry SDK to a fake ingest server on loopback (`tests/sentry_ingest.py`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.settings import Settings
from tests.sentry_ingest import SentryIngest


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def ingest() -> Iterator[SentryIngest]:
    with SentryIngest() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, exporter: InMemorySpanExporter,
             ingest: SentryIngest) -> Settings:
    return dataclasses.replace(settings, trace_exporter=exporter, sentry_dsn=ingest.dsn,
                               jobs_in_process=False, jobs_retry_wait=0, jobs_max_attempts=1)


def span_dump(spans: list[ReadableSpan]) -> str:
    """Everything the exporter received, as text to search for leaks."""
    return json.dumps([{"name": s.name, "attributes": dict(s.attributes or {}),
                        "events": [dict(e.attributes or {}) for e in s.events],
                        "status": s.status.description} for s in spans], default=str)


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None
            and s.parent.span_id == parent.context.span_id]


def log_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]
