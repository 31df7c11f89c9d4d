"""The outbox relay against the real broker: what the event store committed reaches the
service's topic as CloudEvents records keyed by patient, in order, with the trace context
of the request that caused it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import asyncpg
from kernel_support import (
    consume,
    envelopes,
    event_id,
    first_occurrences,
    header,
    relay_until_sent,
    running,
    topic_name,
    unsent,
    wait_for,
)
from opentelemetry.sdk.trace import TracerProvider

from shared.db import plain_dsn
from shared.envelope import Envelope, Metadata
from shared.eventstore import PostgresEventStore
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics
from shared.outbox import OutboxRelay
from shared.telemetry import current_traceparent


async def _store(pool: asyncpg.Pool, bootstrap: str, namespace: str) -> PostgresEventStore:
    topic = topic_name(namespace)
    await ensure_topics(bootstrap, [topic], partitions=3)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    return store


async def test_relay_publishes_keyed_cloudevents_in_stream_order(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    store = await _store(pool, kafka_bootstrap, namespace)
    # Interleaved appends: patient A has two streams, so its key order is the store's order
    # across both; B and C each have one.
    streams = {"course-A": "patient-A", "episode-A": "patient-A", "course-B": "patient-B",
               "course-C": "patient-C"}
    stored: list[Envelope] = []
    for round_ in range(5):
        for stream, subject in streams.items():
            batch = envelopes(stream, 2, subject=subject, start=2 * round_ + 1)
            stored += (await store.append(stream, 2 * round_, batch)).events
    assert await unsent(pool) == len(stored) == 40

    relay = await relay_until_sent(pool, kafka_bootstrap)
    records = await consume(kafka_bootstrap, store.outbox_topic or "", len(stored), settle=0.5)

    assert relay.stats.published == 40
    assert len(records) == 40, "every event exactly once while nothing failed"
    by_id = {str(e.id): e for e in stored}
    for record in records:
        env = by_id[header(record, "ce_id") or ""]
        assert record.key == env.subject.encode()
        assert header(record, "ce_specversion") == "1.0"
        assert header(record, "ce_source") == "/carecoord/kerneltest"
        assert header(record, "ce_type") == "carecoord.kerneltest.SampleRecorded.v1"
        assert header(record, "ce_subject") == header(record, "ce_partitionkey") == env.subject
        assert header(record, "ce_clinicid") == "clinic-1"
        assert header(record, "ce_sequence") == str(env.stream_version)
        assert header(record, "content-type") == "application/json"
        assert json.loads(record.value) == env.payload
        assert ce.decode(record.value, record.headers) == replace(env, global_position=None)

    for subject in set(streams.values()):
        mine = sorted((r for r in records if r.key == subject.encode()), key=lambda r: r.offset)
        assert len({r.partition for r in mine}) == 1, "one patient's events share a partition"
        expected = [str(e.id) for e in stored if e.subject == subject]
        assert [header(r, "ce_id") for r in mine] == expected

    rows = await pool.fetch("SELECT sent_at FROM outbox")
    assert len(rows) == 40 and all(r["sent_at"] is not None for r in rows)

    again = OutboxRelay(pool, kafka_bootstrap)
    async with running(again.run):
        await asyncio.sleep(0.5)
    assert again.stats.published == 0, "rows marked sent were published again"


async def test_trace_context_travels_from_the_request_to_the_record(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    store = await _store(pool, kafka_bootstrap, namespace)
    tracer = TracerProvider().get_tracer("kernel-test")
    with tracer.start_as_current_span("POST /courses/course-T/doses") as span:
        traceparent = current_traceparent()
    assert traceparent is not None
    trace_id = format(span.get_span_context().trace_id, "032x")
    traced = envelopes("course-T", 2, metadata=Metadata(traceparent=traceparent))
    await store.append("course-T", 0, traced)
    await store.append("course-U", 0, envelopes("course-U", 1))  # no request trace

    await relay_until_sent(pool, kafka_bootstrap)
    records = await consume(kafka_bootstrap, store.outbox_topic or "", 3)

    for record in records:
        value = header(record, "traceparent")
        if record.key == b"course-U":
            assert value is None
            continue
        assert value is not None
        version, trace, parent, flags = value.split("-")
        assert (version, len(parent), len(flags)) == ("00", 16, 2)
        assert trace == trace_id, "the published record left the request's trace"


async def test_a_standby_relay_takes_over_without_reordering_when_the_leader_loses_its_db(
        pool: asyncpg.Pool, pg_url: str, schema: str, kafka_bootstrap: str,
        namespace: str) -> None:
    """Two instances: one leads, one waits. The leader's database sessions are cut while
    events keep coming; the standby takes over. However the two overlap, each patient's
    events must still first arrive in stream order, and none may be missing."""
    store = await _store(pool, kafka_bootstrap, namespace)
    pools = {name: await asyncpg.create_pool(
        plain_dsn(pg_url), min_size=1, max_size=3,
        server_settings={"search_path": schema, "application_name": f"{name}-{schema}"})
        for name in ("leader", "standby")}
    leader = OutboxRelay(pools["leader"], kafka_bootstrap, batch_size=5, idle_seconds=0.01)
    standby = OutboxRelay(pools["standby"], kafka_bootstrap, batch_size=5, idle_seconds=0.01)
    patients = ["patient-1", "patient-2", "patient-3"]
    versions = dict.fromkeys(patients, 0)

    async def append_round() -> None:
        for p in patients:
            await store.append(p, versions[p], envelopes(p, 2, start=versions[p] + 1))
            versions[p] += 2

    try:
        async with running(leader.run) as first:
            await append_round()
            await wait_for(lambda: _published(leader), 20, "the leader to publish")
            async with running(standby.run) as second:
                for i in range(60):
                    await append_round()
                    if i == 10:
                        await pool.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = $1", f"leader-{schema}")
                    await asyncio.sleep(0.02)
                    assert not first.done() and not second.done(), "a relay stopped"
                await wait_for(lambda: _all_sent(pool), 30, "the outbox to drain")
    finally:
        for p in pools.values():
            await p.close()

    total = sum(versions.values())
    records = await consume(kafka_bootstrap, store.outbox_topic or "", total, settle=0.5)
    assert {event_id(r) for r in records} == {str(e.id) for e in await store.read_all()}
    assert first_occurrences(records) == {p: list(range(1, versions[p] + 1)) for p in patients}
    assert standby.stats.published > 0, "the standby never took over"


async def _published(relay: OutboxRelay) -> bool:
    return relay.stats.published > 0


async def _all_sent(pool: asyncpg.Pool) -> bool:
    return await unsent(pool) == 0
