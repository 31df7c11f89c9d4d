"""A record the broker refuses for good is parked with its reason; the relay goes on with
the rest instead of retrying it for ever and holding every later event back."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from kernel_support import consume, envelopes, event_id, relay_until_sent, topic_name

from shared.eventstore import PostgresEventStore
from shared.kafka.security import client_security


async def test_an_event_too_large_for_the_topic_is_parked_and_the_rest_published(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    topic = topic_name(namespace)
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "4096"})])
    finally:
        await admin.close()
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    small = envelopes("patient-1", 2)
    await store.append("patient-1", 0, small[:1])
    first = envelopes("patient-1", 1, start=2)[0]
    huge = replace(first, payload={**first.payload, "blob": "x" * 20_000})
    await store.append("patient-1", 1, [huge])
    later = envelopes("patient-1", 2, start=3)
    await store.append("patient-1", 2, later)

    relay = await relay_until_sent(pool, kafka_bootstrap, timeout=30)

    assert relay.stats.parked == 1
    parked = await pool.fetch("SELECT e.event_id, o.parked_reason FROM outbox o "
                              "JOIN events e USING (global_position) WHERE o.parked_at IS NOT NULL")
    assert [(r["event_id"], r["parked_reason"]) for r in parked] == [(huge.id, "MessageSizeTooLargeError")]
    records = await consume(kafka_bootstrap, topic, 3, settle=0.5)
    assert [event_id(r) for r in records] == [str(e.id) for e in (small[0], *later)]
