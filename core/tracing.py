"""OpenTelemetry traces: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test installs an
exporter through `Settings.trace_exporter`).

    configure_tracing(settings)       # the composition root (server.py, jobs/worker.py)
    with span("name", attributes={...}):   # nothing at all when tracing is off
        ...
    current_trace_ids()               # (trace id, span id) in hex, for the log lines
    traceparent()                     # the W3C header of the span in progress, for a job
    links_to(traceparent)             # a job's span links to the request that queued it

One process-wide tracer of our own (not OpenTelemetry's global provider, which can be set once
per process: each app a test builds configures its own). Every span passes the one redaction
policy (`core/redaction.py`) on its way out (`RedactingExporter`): attribute values under a
sensitive key are dropped, and emails, phone numbers and tokens are scrubbed from any text, the
SQL statements included. Which spans exist and what they carry: docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.redaction import REDACTED, opaque_key, scrub_text, sensitive_key

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = ["SpanKind", "Status", "StatusCode", "configure_tracing", "current_trace_ids",
           "detached_span", "enabled", "links_to", "span", "sql_span", "traceparent"]

MAX_STATEMENT = 2000
"""Characters of a SQL statement kept on its span."""
SAFE_ATTRIBUTES = frozenset({
    "db.query.text", "db.system.name", "db.operation.name", "graphql.operation.name",
    "graphql.operation.type", "rpc.method", "rpc.system", "gen_ai.operation.name",
    "gen_ai.request.model", "messaging.operation.name", "messaging.system", "relleks.job.task",
    "server.address",
})
"""Attributes we set whose key's last part looks sensitive (`...name`, `server.address`: a
host, not a person's) but whose value is ours:
their text is scrubbed, not dropped."""

_propagator = TraceContextTextMapPropagator()


class _State:
    tracer: trace.Tracer | None = None
    provider: TracerProvider | None = None


_state = _State()


DROP, KEEP, SCRUB = 0, 1, 2
STATEMENTS_CACHED = 1024
"""SQL statements whose scrubbed text is remembered (they repeat: the same few hundred
statements with placeholders; a statement with inlined values is simply a miss)."""


@lru_cache(maxsize=512)
def _rule(key: str) -> int:
    """What the policy does with an attribute's value, by its key (keys are ours, and few)."""
    if key not in SAFE_ATTRIBUTES and sensitive_key(key):
        return DROP
    return KEEP if opaque_key(key) else SCRUB


_scrub_statement = lru_cache(maxsize=STATEMENTS_CACHED)(scrub_text)
"""`scrub_text` of a SQL statement's text, remembered: scrubbing is a pure function of the
text, and the phone-number matcher is the most costly part of exporting a span."""


def _clean(key: str, value: Any) -> Any:
    rule = _rule(key)
    if rule == DROP:
        return REDACTED
    if isinstance(value, str):
        if rule == KEEP:
            return value
        return _scrub_statement(value) if key == "db.query.text" else scrub_text(value)
    if isinstance(value, list | tuple):
        return [scrub_text(v) if isinstance(v, str) else v for v in value]
    return value


def _clean_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: _clean(key, value) for key, value in (attributes or {}).items()}


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    """`span` with the redaction policy applied to its attributes, its events' attributes and
    its status description: a copy, or the span itself when the policy changes nothing (most
    spans: their attributes are ours)."""
    status = span.status
    if status.description:
        status = Status(status.status_code, scrub_text(status.description))
    attributes = _clean_attributes(span.attributes)
    if not span.events and status is span.status and attributes == dict(span.attributes or {}):
        return span
    events = [Event(event.name, _clean_attributes(event.attributes), event.timestamp)
              for event in span.events]
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=attributes, events=events, links=span.links,
        kind=span.kind, status=status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope)


class RedactingExporter(SpanExporter):
    """Hands `exporter` every span after the redaction policy."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([redacted_span(s) for s in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def configure_tracing(settings: Settings) -> bool:
    """Set this process's tracer from `settings`: the test exporter when given (spans exported
    as they end), else OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (in batches, off the
    request's path), else none. True when tracing is on."""
    previous = _state.provider
    _state.tracer, _state.provider = None, None
    if previous is not None:
        previous.shutdown()
    exporter: SpanExporter | None = settings.trace_exporter
    if exporter is None and settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint)
        processor: Any = BatchSpanProcessor(RedactingExporter(exporter))
    elif exporter is not None:
        processor = SimpleSpanProcessor(RedactingExporter(exporter))
    else:
        return False
    provider = TracerProvider(resource=Resource.create({
        "service.name": settings.otel_service_name}))
    provider.add_span_processor(processor)
    _state.provider = provider
    _state.tracer = provider.get_tracer("relleks")
    return True


def shutdown_tracing() -> None:
    """Export what is pending and stop (the end of a process)."""
    provider, _state.provider, _state.tracer = _state.provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _state.tracer is not None


class _NoSpan:
    """What `span` gives when tracing is off: a context manager that does nothing."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


_NO_SPAN = _NoSpan()


class _CurrentSpan:
    """A started span, made current for the block and ended after it. A class rather than
    `start_as_current_span`: that is three generator-based context managers deep, and every
    SQL statement pays for one of these."""

    __slots__ = ("span", "token")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.token: Any = None

    def __enter__(self) -> trace.Span:
        self.token = context_api.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        context_api.detach(self.token)
        if kind is not None:
            self.span.set_status(Status(StatusCode.ERROR, kind.__name__))
        self.span.end()


def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None,
         links: Sequence[Link] | None = None) -> _CurrentSpan | _NoSpan:
    """A span around the block (`with span(...) as s:`), current inside it; `s` is None (and
    nothing is done) when tracing is off. An exception leaves the span with status ERROR and
    its type's name, never its message."""
    tracer = _state.tracer
    if tracer is None:
        return _NO_SPAN
    return _CurrentSpan(tracer.start_span(name, kind=kind, attributes=attributes, links=links,
                                          record_exception=False,
                                          set_status_on_exception=False))


def detached_span(name: str, *, kind: SpanKind = SpanKind.CLIENT,
                  attributes: Mapping[str, Any] | None = None) -> trace.Span | None:
    """A span that is not made current, for work that spans an async generator's yields (the
    caller ends it); None when tracing is off."""
    tracer = _state.tracer
    if tracer is None:
        return None
    return tracer.start_span(name, kind=kind, attributes=dict(attributes or {}),
                             record_exception=False, set_status_on_exception=False)


@lru_cache(maxsize=STATEMENTS_CACHED)
def _statement(statement: str) -> tuple[str, str]:
    """A statement's operation (its first word) and the text its span keeps."""
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return operation, statement[:MAX_STATEMENT]


def sql_span(statement: str, system: str) -> _CurrentSpan | _NoSpan:
    """The span of one SQL statement: its text only (parameters are never given to it)."""
    operation, text = _statement(statement)
    return span(operation, kind=SpanKind.CLIENT, attributes={
        "db.system.name": system, "db.operation.name": operation, "db.query.text": text})


def current_trace_ids() -> tuple[str, str] | None:
    if _state.tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def traceparent() -> str | None:
    """The W3C `traceparent` of the span in progress, for a job queued now to link to."""
    if _state.tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def links_to(parent: str | None) -> list[Link]:
    """A link to the span a `traceparent` names (none for a missing or malformed one)."""
    if not parent or _state.tracer is None:
        return []
    context = trace.get_current_span(_propagator.extract({"traceparent": parent}))
    span_context = context.get_span_context()
    return [Link(span_context, {"relleks.link": "queued_by"})] if span_context.is_valid else []
