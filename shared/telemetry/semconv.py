"""Span names and attributes after the OpenTelemetry semantic conventions (HTTP server,
database client, messaging), in one place so every span of the platform reads alike.

Only names, operations and destinations go in: never a query's parameters, a record's key
(a patient id) or a payload.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from collections.abc import Set as AbstractSet

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import Attributes

HTTP_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_STATUS = "http.response.status_code"

DB_SYSTEM = "db.system.name"
DB_OPERATION = "db.operation.name"
DB_PROCEDURE = "db.stored_procedure.name"

MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_GROUP = "messaging.consumer.group.name"
MESSAGING_BATCH_COUNT = "messaging.batch.message_count"
MESSAGING_MESSAGE_ID = "messaging.message.id"

_db_tracer = trace.get_tracer("carecoord.eventstore")


def producer_attributes(topic: str, event_id: str) -> Attributes:
    """A Kafka send; the event id (a random uuid, no patient data) finds the record again."""
    return {MESSAGING_SYSTEM: "kafka", MESSAGING_DESTINATION: topic, MESSAGING_OPERATION_TYPE: "send",
            MESSAGING_OPERATION_NAME: "send", MESSAGING_MESSAGE_ID: event_id}


def consumer_attributes(topics: AbstractSet[str], group: str | None, count: int) -> dict[str, str | int]:
    """Processing a batch of Kafka records; the destination only when they share one topic."""
    attributes: dict[str, str | int] = {MESSAGING_SYSTEM: "kafka", MESSAGING_OPERATION_TYPE: "process",
                                        MESSAGING_OPERATION_NAME: "process", MESSAGING_BATCH_COUNT: count}
    if len(topics) == 1:
        attributes[MESSAGING_DESTINATION] = next(iter(topics))
    if group:
        attributes[MESSAGING_GROUP] = group
    return attributes


def consumer_span_name(topics: AbstractSet[str]) -> str:
    return f"process {next(iter(topics))}" if len(topics) == 1 else "process"


@contextlib.contextmanager
def postgres_call(procedure: str) -> Iterator[None]:
    """A client span for one call of a PostgreSQL function, made only inside a trace that is
    being recorded (a request's): an append outside one (a benchmark, a replay) costs nothing."""
    if not trace.get_current_span().is_recording():
        yield
        return
    with _db_tracer.start_as_current_span(
        f"SELECT {procedure}", kind=SpanKind.CLIENT,
        attributes={DB_SYSTEM: "postgresql", DB_OPERATION: "SELECT", DB_PROCEDURE: procedure},
    ):
        yield
