"""The process-wide tracer provider.

OpenTelemetry allows one global provider per process, so :func:`setup_tracing` sets it
once and returns the same provider on every later call (tests and several apps in one
process call it repeatedly). Nothing happens at import time.
"""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from shared.telemetry.config import TelemetryConfig

_TRACES_PATH = "/v1/traces"
_lock = threading.Lock()
_provider: TracerProvider | None = None


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    # Imported here: the exporter pulls in an HTTP stack that "off" never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if endpoint is not None and not endpoint.rstrip("/").endswith(_TRACES_PATH):
        endpoint = endpoint.rstrip("/") + _TRACES_PATH
    return OTLPSpanExporter(endpoint=endpoint)


def _build_provider(config: TelemetryConfig) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: config.service_name}))
    if config.exporter == "otlp":
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(config.otlp_endpoint)))
    elif config.exporter == "console":
        # Synchronous so spans show up next to the log lines they belong to.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif config.exporter != "off":
        raise ValueError(f"unknown exporter {config.exporter!r}")
    return provider


def setup_tracing(config: TelemetryConfig) -> TracerProvider:
    """Install the global SDK tracer provider once and return it.

    If something else already installed an SDK provider, that one is reused rather than
    silently ignored by OpenTelemetry's set-once rule.
    """
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        existing = trace.get_tracer_provider()
        if isinstance(existing, TracerProvider):
            _provider = existing
            return existing
        provider = _build_provider(config)
        trace.set_tracer_provider(provider)
        _provider = provider
        return provider
