"""Traces an operator can follow: with the OTLP/HTTP exporter configured the way a deployment
does it (CARECOORD_TELEMETRY_EXPORTER=otlp and the collector's endpoint), one assessment
recorded over HTTP arrives at a real OTLP receiver as ONE trace: the HTTP server span, the
append (a PostgreSQL client span), the relay's Kafka send and coordination's projection
processing the record — named and attributed per the OpenTelemetry semantic conventions."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from shared.telemetry import TelemetryConfig, detach_exporter, flush_tracing
from tests.integration.ops.ops_support import assess, enroll, scrape, services, total
from tests.integration.ops.otlp_receiver import ReceivedSpan, otlp_receiver
from tests.support.services import wait_until

ROUTE = "/v1/patients/{patient_id}/assessments"


async def test_one_trace_runs_from_the_request_to_the_coordination_projection(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with otlp_receiver() as (endpoint, receiver):
        monkeypatch.setenv("CARECOORD_TELEMETRY_EXPORTER", "otlp")
        monkeypatch.setenv("CARECOORD_OTLP_ENDPOINT", endpoint)
        try:
            async with services(("assessment", "coordination"), pg_url=pg_url, kafka=kafka_bootstrap,
                                schema=schema, namespace=namespace) as s:
                assert s["assessment"].settings.telemetry_exporter == "otlp"
                coordination = s["coordination"].client

                async def applied(count: int) -> bool:
                    families = await scrape(coordination)
                    return total(families, "carecoord_projection_events_applied_total") >= count

                patient = await enroll(s["assessment"].client)
                # The enrolment first, on its own: the assessment then reaches coordination
                # alone in its batch, and a batch of one continues its event's trace.
                await wait_until(lambda: applied(1), timeout=30)
                await assess(s["assessment"].client, patient)
                await wait_until(lambda: applied(2), timeout=30)
                topic = s["assessment"].settings.topic()
                await asyncio.to_thread(flush_tracing)

                def arrived() -> list[ReceivedSpan] | None:
                    spans = receiver.snapshot()
                    consumers = [x for x in spans if x.name == f"process {topic}" and x.kind == Span.SPAN_KIND_CONSUMER]
                    server = _server_span(spans)
                    if server is None or not any(c.trace_id == server.trace_id for c in consumers):
                        return None
                    return [x for x in spans if x.trace_id == server.trace_id]

                trace = await wait_until(arrived, timeout=15)
        finally:
            detach_exporter(TelemetryConfig(service_name="assessment", exporter="otlp", otlp_endpoint=endpoint))

    by_name = {x.name: x for x in trace}
    server = by_name[f"POST {ROUTE}"]
    append = by_name["SELECT append_events"]
    send = by_name[f"send {topic}"]
    process = by_name[f"process {topic}"]

    assert server.kind == Span.SPAN_KIND_SERVER and server.parent_id == ""
    assert server.attributes == {"http.request.method": "POST", "http.route": ROUTE, "http.response.status_code": 201}
    assert append.kind == Span.SPAN_KIND_CLIENT and append.parent_id == server.span_id
    assert append.attributes["db.system.name"] == "postgresql" and append.attributes["db.operation.name"] == "SELECT"
    assert send.kind == Span.SPAN_KIND_PRODUCER and send.parent_id == server.span_id
    assert {k: send.attributes[k] for k in ("messaging.system", "messaging.destination.name",
                                            "messaging.operation.type")} == \
        {"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.operation.type": "send"}
    assert process.kind == Span.SPAN_KIND_CONSUMER and process.parent_id == send.span_id
    assert process.attributes["messaging.system"] == "kafka"
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["messaging.destination.name"] == topic
    assert process.attributes["messaging.consumer.group.name"] == f"{namespace}coordination"
    assert process.attributes["carecoord.projection"] == "coordination"
    # Patient ids never reach a span (the route is a template, the Kafka key is left out).
    assert all(patient not in repr(x) for x in trace)
    print("decoded trace:", " → ".join(f"{x.name} [{x.scope}]" for x in (server, append, send, process)))


def _server_span(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
    found = [x for x in spans if x.name == f"POST {ROUTE}" and x.kind == Span.SPAN_KIND_SERVER]
    return found[-1] if found else None
