"""Tracing, W3C propagation over HTTP and Kafka, and privacy-safe structured logs."""

from shared.telemetry.config import TelemetryConfig
from shared.telemetry.http import ServerSpanMiddleware, instrument_app
from shared.telemetry.logs import LOG_EXTRA_ALLOWLIST, JsonFormatter, setup_logging
from shared.telemetry.propagation import (
    context_from_traceparent,
    current_traceparent,
    extract_traceparent,
    inject_kafka_headers,
)
from shared.telemetry.tracing import detach_exporter, flush_tracing, setup_tracing

__all__ = [
    "LOG_EXTRA_ALLOWLIST",
    "JsonFormatter",
    "ServerSpanMiddleware",
    "TelemetryConfig",
    "context_from_traceparent",
    "current_traceparent",
    "detach_exporter",
    "extract_traceparent",
    "flush_tracing",
    "inject_kafka_headers",
    "instrument_app",
    "setup_logging",
    "setup_tracing",
]
