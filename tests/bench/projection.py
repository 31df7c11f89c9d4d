"""(c): projection runner throughput.

N events sit on a 6-partition topic. Ours: a ``ProjectionRunner`` with a trivial
projection (one counter row per patient, upserted with executemany in the runner's
transaction, next to its tracking rows), consuming until it has applied all N. Baseline:
an aiokafka consumer with the same settings iterating ``getmany`` over the same topic and
doing nothing else. Both use a fresh group id per run and are timed from the first
non-empty fetch, so group join and partition assignment are left out on both sides.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from shared.db import create_pool
from shared.envelope import Envelope
from shared.kafka.clients import ensure_topics
from shared.kafka.security import client_security
from shared.projection import ProjectionRunner
from tests.bench.common import BenchEnv, Comparison, interleaved, progress, rate
from tests.bench.relay import raw_producer, records, send_all

COUNTER_DDL = """
CREATE TABLE IF NOT EXISTS bench_counter (
    projection text NOT NULL,
    subject text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (projection, subject)
)
"""
UPSERT = ("INSERT INTO bench_counter (projection, subject, n) VALUES ($1, $2, $3) "
          "ON CONFLICT (projection, subject) DO UPDATE SET n = bench_counter.n + EXCLUDED.n")
# The kernel's consumer settings (shared/kafka/clients.py make_consumer), spelled out.
CONSUMER_OPTIONS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
    "max_poll_records": 1000,
    "fetch_max_wait_ms": 100,
}
TIMEOUT = 120.0


class CounterProjection:
    def __init__(self, name: str) -> None:
        self.name = name

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        per_subject = Counter(e.subject for e in events)
        await conn.executemany(UPSERT, [(self.name, s, n) for s, n in per_subject.items()])


class StampedConsumer(AIOKafkaConsumer):
    """Notes when the first records arrive: the clock starts there."""

    first_batch_at: float | None = None

    async def getmany(self, *partitions: Any, timeout_ms: int = 0,
                      max_records: int | None = None) -> Any:
        batch = await super().getmany(*partitions, timeout_ms=timeout_ms, max_records=max_records)
        if batch and self.first_batch_at is None:
            self.first_batch_at = time.perf_counter()
        return batch


async def bench_projection(env: BenchEnv) -> list[Comparison]:
    s = env.sizes
    topic = env.topic("proj")
    await ensure_topics(env.kafka, [topic, f"{topic}.dlq"])
    producer = raw_producer(env.kafka)
    await producer.start()
    try:
        await send_all(producer, topic, records(env, s.projection_events))
    finally:
        await producer.stop()
    n = s.projection_events
    warm = n // 5
    progress(f"projection: {n:,} events on {topic}")
    pool = await create_pool(env.pg_url, env.schema("proj"), size=4)

    def consumer(group: str) -> StampedConsumer:
        return StampedConsumer(topic, **client_security(), bootstrap_servers=env.kafka, group_id=group,
                               **CONSUMER_OPTIONS)

    try:
        await pool.execute(COUNTER_DDL)

        async def ours(r: int) -> float:
            target = warm if r == 0 else n
            nonce = uuid.uuid4().hex[:6]
            group = f"bench-{env.run_id}-ours-{r}-{nonce}"
            stamped = consumer(group)
            done = asyncio.Event()
            stop = asyncio.Event()
            seen = 0
            t_end = 0.0

            async def on_batch(size: int) -> None:
                nonlocal seen, t_end
                seen += size
                if seen >= target and not done.is_set():
                    t_end = time.perf_counter()
                    done.set()
                    stop.set()

            runner = ProjectionRunner(pool, env.kafka, group, [topic],
                                      CounterProjection(f"counter_{r}_{nonce}"),
                                      consumer_factory=lambda: stamped, on_batch=on_batch)
            if r == 0:
                await runner.migrate()
            task = asyncio.create_task(runner.run(stop))
            try:
                await asyncio.wait_for(done.wait(), TIMEOUT)
            finally:
                stop.set()
                await task
            if runner.stats.applied < target or stamped.first_batch_at is None:
                raise RuntimeError(f"projection applied {runner.stats.applied} of {target}")
            return rate(seen, t_end - stamped.first_batch_at)

        async def raw(r: int) -> float:
            target = warm if r == 0 else n
            c = consumer(f"bench-{env.run_id}-raw-{r}-{uuid.uuid4().hex[:6]}")
            await c.start()
            seen = 0
            try:
                async with asyncio.timeout(TIMEOUT):
                    while seen < target:
                        batches = await c.getmany(timeout_ms=200, max_records=1000)
                        seen += sum(len(recs) for recs in batches.values())
                t_end = time.perf_counter()
            finally:
                await c.stop()
            assert c.first_batch_at is not None
            return rate(seen, t_end - c.first_batch_at)

        res = await interleaved("projection", [("ours", ours), ("raw", raw)], s.rounds)
    finally:
        await pool.close()
    return [Comparison(f"projection Kafka -> Postgres ({n:,} events)", res["ours"],
                       "aiokafka getmany", res["raw"], min_rate=5_000)]
