"""A relay process killed after Kafka acknowledged a batch but before it marked the rows
sent: the next relay publishes everything again. Nothing is lost; duplicates are allowed
(consumers dedupe by event id) and each patient's events first arrive in stream order."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import asyncpg
from kernel_support import (
    ROOT,
    consume,
    envelopes,
    event_id,
    first_occurrences,
    relay_until_sent,
    topic_name,
    unsent,
    wait_for,
)

from shared.eventstore import PostgresEventStore
from shared.kafka.clients import ensure_topics

WORKER = Path(__file__).with_name("relay_crash_worker.py")


async def test_killed_relay_loses_nothing_and_the_next_one_resends(
        pool: asyncpg.Pool, schema: str, pg_url: str, kafka_bootstrap: str, namespace: str,
        tmp_path: Path) -> None:
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    for round_ in range(4):
        for patient in ("patient-1", "patient-2", "patient-3"):
            await store.append(patient, 3 * round_, envelopes(patient, 3, start=3 * round_ + 1))
    total = 36

    marker = tmp_path / "acked"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), pg_url, schema, kafka_bootstrap, str(marker), "10",
        env=env, stderr=asyncio.subprocess.PIPE)
    try:
        async def acked() -> bool:
            assert proc.returncode is None, "the relay process died on its own"
            return marker.exists()
        await wait_for(acked, 30, "the relay process to get its first batch acknowledged")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        _, stderr = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode(errors="replace")[-2000:]
    first_batch = marker.read_text().split()
    assert len(first_batch) == 10

    # The broker has the batch, the database does not know: every row is still unsent.
    on_topic = await consume(kafka_bootstrap, topic, len(first_batch))
    assert {event_id(r) for r in on_topic} == set(first_batch)
    assert await unsent(pool) == total

    await relay_until_sent(pool, kafka_bootstrap, timeout=30)

    records = await consume(kafka_bootstrap, topic, total + len(first_batch), settle=0.5)
    counts = Counter(event_id(r) for r in records)
    stored = await store.read_all()
    assert set(counts) == {str(e.id) for e in stored}, "an event never reached the topic"
    assert len(records) >= total + len(first_batch)
    assert all(counts[i] >= 2 for i in first_batch), "the unmarked batch was not re-sent"
    order = first_occurrences(records)
    assert order == {p: list(range(1, 13)) for p in ("patient-1", "patient-2", "patient-3")}
