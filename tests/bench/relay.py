"""(b): outbox relay throughput.

Ours: N events appended through the event store (untimed), then ``publish_batch()`` in a
loop until it finds nothing left: read with row locks, encode, produce, wait for every
ack, mark sent, commit. Baseline: one aiokafka producer with the same settings (acks=all,
idempotence, linger 5 ms, the kernel's batch size) sending the same N records, already
encoded, and waiting for every ack.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from aiokafka import AIOKafkaProducer

from shared.db import create_pool
from shared.eventstore import PostgresEventStore
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_producer
from shared.kafka.security import client_security
from shared.outbox import OutboxRelay
from tests.bench.appends import count, make_plan, run_ours
from tests.bench.common import BenchEnv, Comparison, interleaved, progress, rate

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def raw_producer(bootstrap: str) -> AIOKafkaProducer:
    """Spelled out rather than taken from the kernel, so the baseline cannot drift."""
    return AIOKafkaProducer(**client_security(), bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                            linger_ms=5, max_batch_size=256 * 1024, request_timeout_ms=15000,
                            compression_type=None)


def records(env: BenchEnv, n: int) -> list[Record]:
    per_round = env.sizes.writers * env.sizes.batch
    plan = make_plan(env, "k", -(-n // per_round), env.sizes.batch)
    out: list[Record] = []
    for writer in plan:
        for a in writer:
            for i, e in enumerate(a.events):
                out.append(ce.encode(replace(e, stream_version=a.expected_version + i + 1, recorded_at=e.time)))
    return out[:n]


async def send_all(producer: AIOKafkaProducer, topic: str, recs: list[Record]) -> None:
    futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in recs]
    await asyncio.gather(*futures)


async def bench_relay(env: BenchEnv) -> list[Comparison]:
    s = env.sizes
    n, warm = s.relay_events, max(s.relay_events // 10, s.writers * s.batch)
    topic, raw_topic = env.topic("relay"), env.topic("relay-raw")
    await ensure_topics(env.kafka, [topic, raw_topic])
    pool = await create_pool(env.pg_url, env.schema("relay"), size=s.writers + 1)
    ours_producer = make_producer(env.kafka)  # what the relay builds by default
    producer = raw_producer(env.kafka)
    await producer.start()
    try:
        store = PostgresEventStore(pool, outbox_topic=topic)
        await store.migrate()
        relay = OutboxRelay(pool, env.kafka, producer_factory=lambda: ours_producer)

        async def ours(r: int) -> float:
            size = warm if r == 0 else n
            plan = make_plan(env, f"relay{r}", size // (s.writers * s.batch), s.batch)
            await run_ours(store, plan)  # the fill is not timed
            t0 = time.perf_counter()
            published = 0
            while (sent := await relay.publish_batch()) > 0:
                published += sent
            elapsed = time.perf_counter() - t0
            if published != count(plan):
                raise RuntimeError(f"relay published {published} of {count(plan)} events")
            return rate(published, elapsed)

        async def raw(r: int) -> float:
            recs = records(env, warm if r == 0 else n)
            t0 = time.perf_counter()
            await send_all(producer, raw_topic, recs)
            return rate(len(recs), time.perf_counter() - t0)

        progress(f"relay: {n:,} outbox events per round (batch size {relay.batch_size})")
        res = await interleaved("relay", [("ours", ours), ("raw", raw)], s.rounds)
    finally:
        await producer.stop()
        await ours_producer.stop()
        await pool.close()
    return [Comparison(f"relay outbox -> Kafka ({n:,} events)", res["ours"],
                       "aiokafka producer (acks=all, idempotent)", res["raw"], min_ratio=0.6,
                       goal="relay >= 0.6x the raw producer with acks=all and idempotence")]
