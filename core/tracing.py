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

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

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


def _clean(key: str, value: Any) -> Any:
    if key not in SAFE_ATTRIBUTES and sensitive_key(key):
        return REDACTED
    if isinstance(value, str) and not opaque_key(key):
        return scrub_text(value)
    if isinstance(value, list | tuple):
        return [scrub_text(v) if isinstance(v, str) else v for v in value]
    return value


def _clean_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: _clean(key, value) for key, value in (attributes or {}).items()}


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` with the redaction policy applied to its attributes, its events'
    attributes and its status description."""
    status = span.status
    if status.description:
        status = Status(status.status_code, scrub_text(status.description))
    events = [Event(event.name, _clean_attributes(event.attributes), event.timestamp)
              for event in span.events]
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=_clean_attributes(span.attributes), events=events, links=span.links,
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


@contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None,
         links: Sequence[Link] | None = None) -> Iterator[trace.Span | None]:
    """A span around the block, current inside it; None (and nothing done) when tracing is off.
    An exception leaves the span with status ERROR and its type's name, never its message."""
    tracer = _state.tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {}),
                                      links=links, record_exception=False,
                                      set_status_on_exception=False) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def detached_span(name: str, *, kind: SpanKind = SpanKind.CLIENT,
                  attributes: Mapping[str, Any] | None = None) -> trace.Span | None:
    """A span that is not made current, for work that spans an async generator's yields (the
    caller ends it); None when tracing is off."""
    tracer = _state.tracer
    if tracer is None:
        return None
    return tracer.start_span(name, kind=kind, attributes=dict(attributes or {}),
                             record_exception=False, set_status_on_exception=False)


def sql_span(statement: str, system: str) -> Any:
    """The span of one SQL statement: its text only (parameters are never given to it)."""
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return span(operation, kind=SpanKind.CLIENT, attributes={
        "db.system.name": system, "db.operation.name": operation,
        "db.query.text": statement[:MAX_STATEMENT]})


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
