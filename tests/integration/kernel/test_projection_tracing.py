"""The consumer continues the request's trace: one span per applied batch, linked to the
trace of every event in it (or the child of it, for a batch of one)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from kernel_support import envelopes, new_group, relay_until_sent, running, topic_name, wait_for
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.envelope import Envelope, Metadata
from shared.eventstore import PostgresEventStore
from shared.kafka.clients import ensure_topics
from shared.projection import ProjectionRunner
from shared.telemetry import TelemetryConfig, current_traceparent, setup_tracing


class Seen:
    name = "seen"

    def __init__(self) -> None:
        self.count = 0

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        self.count += len(events)


async def test_batch_span_links_to_every_request_trace(pool: asyncpg.Pool, kafka_bootstrap: str,
                                                       namespace: str) -> None:
    provider = setup_tracing(TelemetryConfig(service_name="test"))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = trace.get_tracer("test")
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    request_traces = set()
    for i in range(5):
        with tracer.start_as_current_span(f"request {i}") as span:
            request_traces.add(span.get_span_context().trace_id)
            await store.append(f"s-{i}", 0, envelopes(f"s-{i}", 1, subject="patient-1",
                                                      metadata=Metadata(traceparent=current_traceparent())))
    await relay_until_sent(pool, kafka_bootstrap)
    seen = Seen()
    runner = ProjectionRunner(pool=pool, bootstrap_servers=kafka_bootstrap, group_id=new_group(), topics=[topic],
                              projection=seen, trace_links=True)
    await runner.migrate()
    async with running(runner.run):
        async def applied() -> bool:
            return seen.count == 5
        await wait_for(applied, 20, "the projection to apply five events")
    spans = [s for s in exporter.get_finished_spans() if (s.attributes or {}).get("carecoord.projection") == "seen"]
    linked = {link.context.trace_id for s in spans for link in s.links}
    parents = {s.context.trace_id for s in spans if not s.links}
    assert request_traces <= linked | parents, "a consumed event lost its request's trace"
