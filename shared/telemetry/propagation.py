"""W3C trace context across HTTP and Kafka.

Events carry the ``traceparent`` of the request that caused them (in the outbox row and
then as a Kafka header), so a consumer's work joins the same trace even though the
relay publishes it later from another task.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_propagator = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The active span's ``traceparent``, or ``None`` outside any (valid) span."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_from_traceparent(traceparent: str | None) -> Context:
    """A context whose remote parent is ``traceparent``.

    A missing or malformed value gives an empty context, so the next span starts a new
    trace instead of failing the message that carried it.
    """
    if not traceparent:
        return Context()
    return _propagator.extract({TRACEPARENT: traceparent})


def inject_kafka_headers(headers: list[tuple[str, bytes]], traceparent: str | None) -> None:
    """Set the ``traceparent`` header in place, replacing any earlier one."""
    headers[:] = [(key, value) for key, value in headers if key.lower() != TRACEPARENT]
    if traceparent:
        headers.append((TRACEPARENT, traceparent.encode("ascii")))


def extract_traceparent(headers: Sequence[tuple[str, bytes | None]] | None) -> str | None:
    """The ``traceparent`` header of a Kafka record, if present and readable."""
    for key, value in headers or ():
        if key.lower() == TRACEPARENT and value:
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:
                return None
    return None
