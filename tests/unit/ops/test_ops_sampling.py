"""Sampling is parent-based with a configurable ratio: a new trace is kept at the ratio, a
span whose parent was sampled (an incoming request, a Kafka record) follows its parent."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from shared.telemetry import TelemetryConfig, detach_exporter, setup_tracing, tracing
from shared.telemetry.tracing import ConfigurableSampler

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736


def _parent(sampled: bool):  # type: ignore[no-untyped-def]
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return set_span_in_context(NonRecordingSpan(SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True,
                                                            trace_flags=flags)))


def test_new_traces_follow_the_ratio_and_children_their_parent() -> None:
    sampler = ConfigurableSampler(0.0)
    assert sampler.should_sample(None, TRACE_ID, "GET /x").decision is Decision.DROP
    assert sampler.should_sample(_parent(True), TRACE_ID, "send t").decision is Decision.RECORD_AND_SAMPLE
    sampler.set_ratio(1.0)
    assert sampler.should_sample(None, TRACE_ID, "GET /x").decision is Decision.RECORD_AND_SAMPLE
    assert sampler.should_sample(_parent(False), TRACE_ID, "send t").decision is Decision.DROP


def test_ratio_half_keeps_about_half_of_new_traces() -> None:
    sampler = ConfigurableSampler(0.5)
    kept = sum(sampler.should_sample(None, (i * 0x9E3779B97F4A7C15) % 2**128, "x").decision
               is Decision.RECORD_AND_SAMPLE for i in range(1, 2001))
    assert 800 < kept < 1200


def test_a_ratio_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError):
        setup_tracing(TelemetryConfig(service_name="test", sample_ratio=1.5))


def test_a_later_setup_attaches_its_exporter_once_and_it_can_be_detached(monkeypatch: pytest.MonkeyPatch) -> None:
    exported = InMemorySpanExporter()
    made: list[TelemetryConfig] = []

    def processor(config: TelemetryConfig) -> SimpleSpanProcessor:
        made.append(config)
        return SimpleSpanProcessor(exported)

    monkeypatch.setattr(tracing, "_processor", processor)
    config = TelemetryConfig(service_name="test", exporter="console", otlp_endpoint="unit-test")
    setup_tracing(TelemetryConfig(service_name="test"))  # the provider exists already
    setup_tracing(config)
    setup_tracing(config)
    with trace.get_tracer("test").start_as_current_span("exported once"):
        pass
    assert made == [config]
    assert [s.name for s in exported.get_finished_spans()] == ["exported once"]
    detach_exporter(config)
    with trace.get_tracer("test").start_as_current_span("not exported"):
        pass
    assert [s.name for s in exported.get_finished_spans()] == ["exported once"]
