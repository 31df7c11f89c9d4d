"""Settings for tracing and logging, built by each service's bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Exporter = Literal["off", "console", "otlp"]


@dataclass(frozen=True)
class TelemetryConfig:
    """``exporter="off"`` still traces: trace ids exist, appear in logs and travel in
    Kafka headers; only nothing is exported.

    ``otlp_endpoint`` is the collector's base URL (``http://collector:4318``) or the full
    traces URL; ``None`` leaves it to the standard ``OTEL_EXPORTER_OTLP_*`` variables.

    ``sample_ratio`` chooses the share of new traces kept (parent-based: see
    :func:`shared.telemetry.tracing.setup_tracing`).
    """

    service_name: str
    exporter: Exporter = "off"
    otlp_endpoint: str | None = None
    # Share of new traces recorded and exported; a request arriving with a sampled (or not
    # sampled) parent keeps its parent's decision, so a trace is never cut in half.
    sample_ratio: float = 1.0
    log_level: str = "INFO"
    log_json: bool = True
