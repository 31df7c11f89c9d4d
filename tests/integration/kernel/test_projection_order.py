"""Order per stream is checked with ``ce_sequence``, on records produced by hand: a
redelivered or repeated sequence is skipped; after a gap the later event is held back
(reported, and surviving a restart) until the missing one arrives, then both apply in
order; other streams flow on meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
from kernel_support import envelopes, new_group, registry, running, topic_name, wait_for

from shared.envelope import Envelope
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_producer
from shared.projection import ProjectionRunner


class Ledger:
    """Rows in the order they were applied; no key on the event, so a double apply shows."""

    name = "ledger"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            await conn.execute("INSERT INTO ledger (stream_id, n) VALUES ($1, $2)",
                               env.stream_id, env.payload["n"])


async def _rows(pool: asyncpg.Pool, stream: str) -> list[int]:
    return [r["n"] for r in await pool.fetch("SELECT n FROM ledger WHERE stream_id = $1 ORDER BY row_id", stream)]


def _at(env: Envelope, seq: int) -> Envelope:
    return replace(env, stream_version=seq, recorded_at=datetime.now(UTC))


async def test_duplicates_are_skipped_and_a_gap_is_held_back_until_filled(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    await pool.execute("CREATE TABLE ledger (row_id bigserial PRIMARY KEY, stream_id text NOT NULL, n int NOT NULL)")
    a1, a2, a3, a_again = envelopes("stream-a", 4)
    b1, b2 = envelopes("stream-b", 2)
    group = new_group()

    def runner() -> ProjectionRunner:
        return ProjectionRunner(pool=pool, bootstrap_servers=kafka_bootstrap, group_id=group, topics=[topic],
                                projection=Ledger(), registry=registry(), max_backoff=0.5)

    producer = make_producer(kafka_bootstrap)
    await producer.start()

    async def send(env: Envelope) -> None:
        key, value, headers = ce.encode(env)
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)

    try:
        first = runner()
        await first.migrate()
        async with running(first.run) as task:
            await send(_at(a1, 1))
            await send(_at(a1, 1))  # redelivered: the same event again
            await send(_at(a_again, 1))  # another event claiming a sequence already applied
            await send(_at(a3, 3))  # 2 is missing
            await send(_at(b1, 1))  # another stream is not held up by a's gap

            async def b1_applied() -> bool:  # one partition: a's records were handled before
                assert not task.done(), "the runner stopped"
                return await _rows(pool, "stream-b") == [1]
            await wait_for(b1_applied, 20, "stream-b's first event")
            assert await _rows(pool, "stream-a") == [1], "a duplicate or an event after a gap was applied"
            assert first.stats.skipped == 2
            assert first.health.held_back == 1
            report = await first.report()
            assert report.held_back == 1 and report.status == "ok"
            assert report.lag == 0, "a held-back event blocks its partition's offsets"

        # A restart in between: what is held back is kept in the database, not in memory.
        second = runner()
        async with running(second.run) as task:
            await send(_at(a2, 2))
            await send(_at(b2, 2))

            async def filled() -> bool:
                assert not task.done(), "the runner stopped"
                return len(await _rows(pool, "stream-a")) >= 3 and len(await _rows(pool, "stream-b")) >= 2
            await wait_for(filled, 20, "the gap to be filled")
            assert second.health.held_back == 0
    finally:
        await producer.stop()

    assert await _rows(pool, "stream-a") == [1, 2, 3]
    assert await _rows(pool, "stream-b") == [1, 2]
    assert await pool.fetchval("SELECT count(*) FROM projection_parked") == 0
    positions = dict(await pool.fetch("SELECT stream_id, last_sequence FROM projection_stream_position"))
    assert positions == {"stream-a": 3, "stream-b": 2}
