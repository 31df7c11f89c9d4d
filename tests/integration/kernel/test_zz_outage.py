"""Kafka outage: the real local broker is stopped while relays run and events keep being
appended; once the broker is back every event is published and marked sent.

Two relays, each over its own event store (schema): one was connected and publishing before
the outage, the other starts while Kafka is away and can never connect until it returns.

Named to run last: it stops the shared broker (and always starts it again)."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
from kernel_support import (
    consume,
    envelopes,
    event_id,
    first_occurrences,
    load_stack,
    running,
    topic_name,
    unsent,
    wait_for,
)

from shared.db import create_pool, plain_dsn
from shared.eventstore import PostgresEventStore
from shared.kafka.clients import ensure_topics, kafka_ready
from shared.outbox import OutboxRelay


async def test_events_appended_during_a_kafka_outage_are_published_after_it(
        pool: asyncpg.Pool, pg_url: str, kafka_bootstrap: str, namespace: str) -> None:
    stack = load_stack()
    assert stack.kafka_pid() is not None, "this test needs the local stack's own broker"
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    other_pool = await create_pool(pg_url, other_schema, size=3)
    other = PostgresEventStore(other_pool, topic)
    await other.migrate()
    connected = OutboxRelay(pool, kafka_bootstrap, max_backoff=0.5)
    latecomer = OutboxRelay(other_pool, kafka_bootstrap, max_backoff=0.5)

    try:
        async with running(connected.run) as task:
            await store.append("patient-1", 0, envelopes("patient-1", 3))
            await wait_for(lambda: _drained(pool), 20, "the first events to be published")
            try:
                await asyncio.to_thread(stack.kafka_stop)
                assert not await kafka_ready(kafka_bootstrap, timeout=1)
                for round_ in range(4):
                    for patient, version in (("patient-1", 3), ("patient-2", 0)):
                        start = version + 5 * round_
                        await store.append(patient, start, envelopes(patient, 5, start=start + 1))
                await other.append("patient-9", 0, envelopes("patient-9", 10))
                async with running(latecomer.run) as late_task:
                    t0 = time.monotonic()
                    while time.monotonic() - t0 < 4:
                        await asyncio.sleep(0.2)
                        assert not task.done(), "the connected relay crashed with Kafka away"
                        assert not late_task.done(), "the new relay crashed with Kafka away"
                        assert await unsent(pool) == 40, "rows were marked sent with Kafka down"
                        assert await unsent(other_pool) == 10
                    # The new relay cannot even connect: it fails, backs off, tries again.
                    assert latecomer.stats.failures >= 3
                    # The connected one waits out its producer's request timeout on its
                    # batch, or has failed and retries: either way nothing is marked sent.
                    assert connected.stats.published == 3 and latecomer.stats.published == 0
                    await asyncio.to_thread(stack.kafka_start)
                    await wait_for(lambda: _drained(other_pool), 60,
                                   "the new relay's outbox to drain after Kafka returned")
            finally:
                await asyncio.to_thread(stack.kafka_start)  # a no-op when it runs already
            await wait_for(lambda: _drained(pool), 60, "the outbox to drain after Kafka returned")
            assert not task.done()
        stored = await store.read_all() + await other.read_all()
    finally:
        await other_pool.close()
        conn = await asyncpg.connect(plain_dsn(pg_url))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{other_schema}" CASCADE')
        finally:
            await conn.close()

    records = await consume(kafka_bootstrap, topic, 53, timeout=30, settle=0.5)
    assert {event_id(r) for r in records} == {str(e.id) for e in stored}
    assert first_occurrences(records) == {"patient-1": list(range(1, 24)),
                                          "patient-2": list(range(1, 21)),
                                          "patient-9": list(range(1, 11))}
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def _drained(pool: asyncpg.Pool) -> bool:
    return await unsent(pool) == 0
