"""The tracer's own spans (`core.tracing._Span`) follow the SDK's sampler as its spans do: the
provider's sampler (`OTEL_TRACES_SAMPLER`) decides for a root span, a child follows its parent;
an unsampled trace is neither recorded nor exported, but still has ids for the log lines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core import tracing
from core.settings import Settings

pytestmark = pytest.mark.no_db


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    yield found
    tracing.shutdown_tracing()


def traced(exporter: InMemorySpanExporter) -> tuple[str, str] | None:
    assert tracing.configure_tracing(Settings(env="test", trace_exporter=exporter))
    with tracing.span("request", kind=tracing.SpanKind.SERVER) as request:
        assert request is not None
        request.set_attribute("http.response.status_code", 200)
        ids = tracing.current_trace_ids()
        with tracing.sql_span("SELECT 1", "postgresql"):
            assert tracing.current_trace_ids() == ids  # a statement's span is not current
        with tracing.span("graphql.parse"):
            pass
    return ids


def test_every_trace_is_recorded_by_default(exporter: InMemorySpanExporter) -> None:
    ids = traced(exporter)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"request", "SELECT", "graphql.parse"}
    root = spans["request"]
    assert root.parent is None and root.context is not None and ids is not None
    assert f"{root.context.trace_id:032x}" == ids[0]
    assert dict(root.attributes or {})["http.response.status_code"] == 200
    for child in (spans["SELECT"], spans["graphql.parse"]):
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context is not None and child.context.trace_id == root.context.trace_id
    assert dict(spans["SELECT"].attributes or {})["db.query.text"] == "SELECT 1"
    assert root.resource.attributes["service.name"] == "relleks-api"


def test_an_unsampled_trace_is_not_exported_but_has_ids(
        exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    ids = traced(exporter)
    assert exporter.get_finished_spans() == ()
    assert ids is not None and int(ids[0], 16) != 0


def test_an_error_leaves_the_statement_span_with_its_type(
        exporter: InMemorySpanExporter) -> None:
    assert tracing.configure_tracing(Settings(env="test", trace_exporter=exporter))
    with pytest.raises(ZeroDivisionError), tracing.sql_span("SELECT 1/0", "sqlite"):
        raise ZeroDivisionError("a message with data")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is tracing.StatusCode.ERROR
    assert span.status.description == "ZeroDivisionError"
