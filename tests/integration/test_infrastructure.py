"""The local stack is real: a Kafka broker that stores and returns records, and a
PostgreSQL server that stores and returns rows."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer

from shared.kafka.clients import ensure_topics, kafka_ready, make_producer


async def test_kafka_round_trip(kafka_bootstrap: str, namespace: str) -> None:
    topic = f"{namespace}infra.roundtrip"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    sent = [uuid.uuid4().hex.encode() for _ in range(20)]
    try:
        for value in sent:
            await producer.send_and_wait(topic, value=value, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=f"g-{namespace}")
    await consumer.start()
    received: list[bytes] = []
    try:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "no records came back from the broker within 5 s"
            for records in batch.values():
                received.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    assert received == sent  # one key → one partition → order kept
    assert await kafka_ready(kafka_bootstrap)


async def test_postgres_round_trip(pool: asyncpg.Pool, schema: str) -> None:
    await pool.execute("CREATE TABLE t (id int PRIMARY KEY, note text)")
    await pool.executemany("INSERT INTO t VALUES ($1, $2)", [(i, f"n{i}") for i in range(50)])
    rows = await pool.fetch("SELECT id, note FROM t ORDER BY id")
    assert [(r["id"], r["note"]) for r in rows] == [(i, f"n{i}") for i in range(50)]
    assert await pool.fetchval("SELECT current_schema()") == schema
