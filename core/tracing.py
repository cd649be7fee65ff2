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

import os
import random
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
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
    tracer: _Tracer | None = None
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
        # Bigger batches than the SDK's 512 (its OTEL_BSP_* variables still win): the export
        # runs on a thread of this process, and each POST has a fixed cost besides the spans'.
        processor: Any = BatchSpanProcessor(
            RedactingExporter(exporter),
            max_queue_size=None if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else BATCH * 4,
            max_export_batch_size=None if os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
            else BATCH)
    elif exporter is not None:
        processor = SimpleSpanProcessor(RedactingExporter(exporter))
    else:
        return False
    provider = TracerProvider(resource=_Resource(Resource.create({
        "service.name": settings.otel_service_name})))
    provider.add_span_processor(processor)
    _state.provider = provider
    _state.tracer = _Tracer(provider.resource, provider.sampler, processor)
    return True


def shutdown_tracing() -> None:
    """Export what is pending and stop (the end of a process)."""
    provider, _state.provider, _state.tracer = _state.provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _state.tracer is not None


BATCH = 2048
"""Spans per OTLP export."""


class _Resource(Resource):
    """The process's resource with its hash computed once: the OTLP encoder groups every span
    by its resource, and `Resource.__hash__` serialises the attributes to JSON each time."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other)


SAMPLED = TraceFlags(TraceFlags.SAMPLED)
NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
UNSET = Status(StatusCode.UNSET)
SCOPE = InstrumentationScope("relleks")


class _Span(trace.Span):
    """A recording span, lighter than the SDK's: the spans of a request are made and ended on
    one task, so it needs no lock, and its attributes are ours (str, int, lists of str), so it
    keeps a plain dict instead of validating each value. Ended, it becomes one `ReadableSpan`
    handed to the span processor, as the SDK's span does; nothing downstream (the processor,
    the redaction, the exporters) can tell them apart.

    The SDK's `Tracer.start_span` and `Span` cost about two thirds of what tracing added to
    Q1's request in the same process (sampler call, id objects, a lock, bounded attributes,
    and a second copy of every span when it ends): bench/tracing_cost.py."""

    __slots__ = ("_attributes", "_context", "_ended", "_kind", "_links", "_name", "_parent",
                 "_start", "_status", "_tracer")

    def __init__(self, tracer: _Tracer, name: str, context: SpanContext,
                 parent: SpanContext | None, kind: SpanKind, attributes: dict[str, Any],
                 links: Sequence[Link]) -> None:
        self._tracer, self._name, self._context, self._parent = tracer, name, context, parent
        self._kind, self._attributes, self._links = kind, attributes, links
        self._status = UNSET
        self._ended = False
        self._start = time.time_ns()

    def get_span_context(self) -> SpanContext:
        return self._context

    def set_attribute(self, key: str, value: Any) -> None:
        if value is not None and not self._ended:
            self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None
                  ) -> None:
        return None  # no span of ours has events (nothing here records one)

    def update_name(self, name: str) -> None:
        if not self._ended:
            self._name = name

    def is_recording(self) -> bool:
        return not self._ended

    def set_status(self, status: Status | StatusCode, description: str | None = None
                   ) -> None:
        if self._ended:
            return
        self._status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(self, exception: BaseException, attributes: Any = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        return None  # never: an exception's message can hold personal data

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        tracer = self._tracer
        tracer.processor.on_end(ReadableSpan(
            name=self._name, context=self._context, parent=self._parent,
            resource=tracer.resource, attributes=self._attributes, links=self._links,
            kind=self._kind, status=self._status, start_time=self._start,
            end_time=end_time or time.time_ns(), instrumentation_scope=SCOPE))


class _Tracer:
    """Starts `_Span`s: a root span's sampling is the provider's sampler's decision
    (`OTEL_TRACES_SAMPLER`; every trace by default), a child follows its parent's, as the
    default `parentbased_always_on` does."""

    __slots__ = ("processor", "resource", "sampler")

    def __init__(self, resource: Resource, sampler: Sampler, processor: SpanProcessor) -> None:
        self.resource, self.sampler, self.processor = resource, sampler, processor

    def start_span(self, name: str, kind: SpanKind, attributes: Mapping[str, Any] | None,
                   links: Sequence[Link] | None) -> trace.Span:
        current = trace.get_current_span().get_span_context()
        parent: SpanContext | None = current
        if current.is_valid:
            trace_id, sampled = current.trace_id, current.trace_flags.sampled
        else:
            parent = None
            trace_id = random.getrandbits(128) or 1
            sampled = self.sampler.should_sample(
                None, trace_id, name, kind, attributes, links).decision.is_sampled()
        context = SpanContext(trace_id, random.getrandbits(64) or 1, is_remote=False,
                              trace_flags=SAMPLED if sampled else NOT_SAMPLED)
        if not sampled:
            return trace.NonRecordingSpan(context)
        return _Span(self, name, context, parent, kind, dict(attributes or {}), links or ())


class _NoSpan:
    """What `span` gives when tracing is off: a context manager that does nothing."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


_NO_SPAN = _NoSpan()


class _EndedAfter:
    """A started span, ended after the block but never made current: for a span that has no
    children (a SQL statement), the context's attach and detach are saved."""

    __slots__ = ("span",)

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def __enter__(self) -> trace.Span:
        return self.span

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            self.span.set_status(Status(StatusCode.ERROR, kind.__name__))
        self.span.end()


class _CurrentSpan:
    """A started span, made current for the block and ended after it. A class rather than
    `start_as_current_span`: that is three generator-based context managers deep."""

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
    return _CurrentSpan(tracer.start_span(name, kind, attributes, links))


def detached_span(name: str, *, kind: SpanKind = SpanKind.CLIENT,
                  attributes: Mapping[str, Any] | None = None) -> trace.Span | None:
    """A span that is not made current, for work that spans an async generator's yields (the
    caller ends it); None when tracing is off."""
    tracer = _state.tracer
    if tracer is None:
        return None
    return tracer.start_span(name, kind, attributes, None)


@lru_cache(maxsize=STATEMENTS_CACHED)
def _statement(statement: str) -> tuple[str, str]:
    """A statement's operation (its first word) and the text its span keeps."""
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return operation, statement[:MAX_STATEMENT]


def sql_span(statement: str, system: str) -> _EndedAfter | _NoSpan:
    """The span of one SQL statement: its text only (parameters are never given to it). Not
    made current: nothing runs under a statement."""
    if _state.tracer is None:
        return _NO_SPAN
    operation, text = _statement(statement)
    started = detached_span(operation, kind=SpanKind.CLIENT, attributes={
        "db.system.name": system, "db.operation.name": operation, "db.query.text": text})
    return _NO_SPAN if started is None else _EndedAfter(started)


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
