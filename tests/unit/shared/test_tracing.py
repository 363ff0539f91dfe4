"""Spans per article: the trace context carried on, recorded only when a tracer records."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.runtime.tracing import NO_TRACING, SpanInfo, make_tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_tracer_that_records_nothing_gives_no_context_to_an_untraced_article() -> None:
    with NO_TRACING.span("ingest", parent=None) as span:
        assert span == SpanInfo(None, None)


def test_a_tracer_that_records_nothing_carries_the_upstream_trace_on() -> None:
    with NO_TRACING.span("ingest", parent=PARENT) as span:
        assert span.trace_id == "0af7651916cd43dd8448eb211c80319c"
        assert span.traceparent is not None
        assert span.traceparent.split("-")[1] == span.trace_id


def test_a_tracer_that_records_nothing_continues_a_span_open_around_it() -> None:
    recording = make_tracing("test", "none", span_exporter=InMemorySpanExporter())
    with recording.span("outer", parent=None) as outer, NO_TRACING.span("inner", parent=None) as inner:
        assert outer.trace_id is not None
        assert inner.trace_id == outer.trace_id


def test_a_recording_tracer_starts_a_trace_and_records_the_span() -> None:
    exporter = InMemorySpanExporter()
    tracing = make_tracing("test", "none", span_exporter=exporter)
    with tracing.span("ingest", parent=None, attributes={"article_id": "a1"}) as span:
        assert span.trace_id is not None
        assert len(span.trace_id) == 32
    [finished] = exporter.get_finished_spans()
    assert finished.name == "ingest"
    assert finished.attributes == {"article_id": "a1"}
    assert format(finished.context.trace_id, "032x") == span.trace_id
