"""``audit verify`` against someone with write access to the event store: each kind of
tampering is reported with service, stream and position; an untouched store has none."""

from __future__ import annotations

import json
from dataclasses import replace

import asyncpg
import pytest
from kernel_support import envelopes, relay_until_sent, topic_name

from shared.audit.checkpoints import write_checkpoint
from shared.audit.verify import Report, verify_store
from shared.envelope import chain_hash
from shared.eventstore import PostgresEventStore
from shared.kafka.clients import ensure_topics

KEY = b"audit-key-held-outside-the-database"


@pytest.fixture
async def store(pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> PostgresEventStore:
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    for stream in ("s1", "s2", "s3"):
        await store.append(stream, 0, envelopes(stream, 4))
    await relay_until_sent(pool, kafka_bootstrap)
    assert await write_checkpoint(pool, KEY) is not None
    return store


async def _verify(store: PostgresEventStore, kafka_bootstrap: str) -> Report:
    return await verify_store(store.pool, "kerneltest", key=KEY, bootstrap=kafka_bootstrap,
                              topic=store.outbox_topic)


def _found(report: Report) -> set[tuple[str | None, int | None, str]]:
    return {(f.stream_id, f.position, f.kind) for f in report.findings}


async def test_an_untouched_store_verifies(store: PostgresEventStore, kafka_bootstrap: str) -> None:
    await store.append("s1", 4, envelopes("s1", 1, start=5))  # after the checkpoint, not yet published
    report = await _verify(store, kafka_bootstrap)
    assert report.ok, [f.line() for f in report.findings]
    assert (report.events, report.streams, report.checkpoints) == (13, 3, 1)
    assert report.published == 12
    assert any("not yet published" in n for n in report.notes)


async def test_a_payload_edited_by_sql(store: PostgresEventStore, kafka_bootstrap: str) -> None:
    await store.pool.execute("UPDATE events SET payload = jsonb_set(payload, '{n}', '99') "
                             "WHERE stream_id = 's2' AND stream_version = 2")
    report = await _verify(store, kafka_bootstrap)
    assert ("s2", 2, "altered") in _found(report)


async def test_an_edited_row_with_its_chain_recomputed(store: PostgresEventStore, kafka_bootstrap: str) -> None:
    events = await store.read_stream("s2")
    prev = events[1].hash
    for env in events[2:]:
        changed = replace(env, payload={**env.payload, "n": env.payload["n"] + 100})
        new_hash = chain_hash(prev, changed)
        await store.pool.execute("UPDATE events SET payload = $1::jsonb, hash = $2 WHERE event_id = $3",
                                 json.dumps(dict(changed.payload)), new_hash, env.id)
        prev = new_hash
    assert (await store.verify("s2")).ok  # the chain alone no longer shows it
    found = _found(await _verify(store, kafka_bootstrap))
    assert ("s2", 4, "rewritten") in found
    assert ("s2", 3, "differs from Kafka") in found and ("s2", 4, "differs from Kafka") in found


async def test_a_deleted_last_event(store: PostgresEventStore, kafka_bootstrap: str) -> None:
    await _delete(store.pool, "stream_id = 's3' AND stream_version = 4")
    found = _found(await _verify(store, kafka_bootstrap))
    assert ("s3", 4, "tail deleted") in found
    assert ("s3", 4, "deleted from the store") in found


async def test_a_deleted_whole_stream(store: PostgresEventStore, kafka_bootstrap: str) -> None:
    await _delete(store.pool, "stream_id = 's1'")
    found = _found(await _verify(store, kafka_bootstrap))
    assert ("s1", 4, "stream deleted") in found
    assert {("s1", v, "deleted from the store") for v in range(1, 5)} <= found


async def test_an_event_missing_from_kafka(store: PostgresEventStore, kafka_bootstrap: str) -> None:
    await store.append("s1", 4, envelopes("s1", 1, start=5))
    # Marked sent without ever reaching the broker (a relay bug, or a hand-edited outbox).
    await store.pool.execute("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL")
    assert ("s1", 5, "missing from Kafka") in _found(await _verify(store, kafka_bootstrap))


async def test_a_forged_or_deleted_checkpoint(store: PostgresEventStore, kafka_bootstrap: str) -> None:
    await store.append("s1", 4, envelopes("s1", 1, start=5))
    await write_checkpoint(store.pool, KEY)
    await store.pool.execute("UPDATE chain_checkpoints SET last_position = 1 WHERE checkpoint_id = 2")
    await store.pool.execute("DELETE FROM chain_checkpoints WHERE checkpoint_id = 1")
    kinds = {f.kind for f in (await _verify(store, kafka_bootstrap)).findings}
    assert {"checkpoint forged", "checkpoint missing"} <= kinds


async def _delete(pool: asyncpg.Pool, where: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DELETE FROM outbox WHERE global_position IN (SELECT global_position FROM events "
                           f"WHERE {where})")
        await conn.execute(f"DELETE FROM events WHERE {where}")
