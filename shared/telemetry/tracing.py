"""The process-wide tracer provider.

OpenTelemetry allows one global provider per process, so :func:`setup_tracing` sets it
once and returns the same provider on every later call (tests and several apps in one
process call it repeatedly). A later call still gets its exporter attached (once per
exporter and endpoint) and sets the sampling ratio, so an app configured to export is
exported whatever ran before it in the process. Nothing happens at import time.

Sampling is parent-based: a span with a parent (an incoming ``traceparent``, a Kafka
record's header) follows its parent's decision; a new trace is kept with the configured
ratio, decided from the trace id so every service keeps or drops the same traces.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanProcessor,
)
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from shared.telemetry.config import TelemetryConfig

_TRACES_PATH = "/v1/traces"
_lock = threading.Lock()
_provider: TracerProvider | None = None
_attached: dict[tuple[str, str | None], _Detachable] = {}


class ConfigurableSampler(Sampler):
    """Parent-based ratio sampling whose ratio can be set after tracers were handed out
    (the SDK gives each tracer the provider's sampler object once)."""

    def __init__(self, ratio: float = 1.0) -> None:
        self._delegate: Sampler = ParentBased(TraceIdRatioBased(ratio))
        self.ratio = ratio

    def set_ratio(self, ratio: float) -> None:
        if ratio != self.ratio:
            self._delegate = ParentBased(TraceIdRatioBased(ratio))
            self.ratio = ratio

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None, trace_state: TraceState | None = None) -> SamplingResult:
        return self._delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return self._delegate.get_description()


_sampler = ConfigurableSampler()


class _Detachable(SpanProcessor):
    """An exporter's processor that can be taken off the provider again (the SDK has no way
    to remove a processor): a test's receiver goes away, a later export must not try it."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner: SpanProcessor | None = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.inner is not None:
            self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.inner is not None:
            self.inner.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis) if self.inner is not None else True

    def shutdown(self) -> None:
        inner, self.inner = self.inner, None
        if inner is not None:
            inner.shutdown()


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    # Imported here: the exporter pulls in an HTTP stack that "off" never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if endpoint is not None and not endpoint.rstrip("/").endswith(_TRACES_PATH):
        endpoint = endpoint.rstrip("/") + _TRACES_PATH
    return OTLPSpanExporter(endpoint=endpoint)


def _processor(config: TelemetryConfig) -> SpanProcessor | None:
    if config.exporter == "otlp":
        return BatchSpanProcessor(_otlp_exporter(config.otlp_endpoint))
    if config.exporter == "console":
        # Synchronous so spans show up next to the log lines they belong to.
        return SimpleSpanProcessor(ConsoleSpanExporter())
    if config.exporter != "off":
        raise ValueError(f"unknown exporter {config.exporter!r}")
    return None


def setup_tracing(config: TelemetryConfig) -> TracerProvider:
    """Install the global SDK tracer provider once, attach the config's exporter once, set
    the sampling ratio, and return the provider.

    If something else already installed an SDK provider, that one is reused rather than
    silently ignored by OpenTelemetry's set-once rule (its own sampler then stays).
    """
    global _provider
    if not 0.0 <= config.sample_ratio <= 1.0:
        raise ValueError("sample_ratio must be between 0 and 1")
    with _lock:
        if _provider is None:
            existing = trace.get_tracer_provider()
            if isinstance(existing, TracerProvider):
                _provider = existing
            else:
                _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: config.service_name}),
                                           sampler=_sampler)
                trace.set_tracer_provider(_provider)
        _sampler.set_ratio(config.sample_ratio)
        key = (config.exporter, config.otlp_endpoint)
        if key not in _attached and config.exporter != "off":
            processor = _processor(config)
            assert processor is not None
            _attached[key] = _Detachable(processor)
            _provider.add_span_processor(_attached[key])
        return _provider


def flush_tracing(timeout_millis: int = 10000) -> bool:
    """Export every finished span now (batch export otherwise waits up to 5 s)."""
    return _provider.force_flush(timeout_millis) if _provider is not None else True


def detach_exporter(config: TelemetryConfig) -> None:
    """Flush and take off the exporter ``config`` attached; a later setup attaches it anew."""
    with _lock:
        processor = _attached.pop((config.exporter, config.otlp_endpoint), None)
    if processor is not None:
        processor.force_flush()
        processor.shutdown()
