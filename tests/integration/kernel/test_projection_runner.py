"""The projection runner against the real broker and database: events land in the read
model once, a replay from offset 0 changes nothing, poison goes to the dead-letter topic
while the rest flows on, and a database connection lost mid-batch loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
from kernel_support import (
    SERVICE,
    consume,
    envelopes,
    header,
    new_group,
    registry,
    relay_until_sent,
    running,
    topic_name,
    wait_for,
)

from shared.db import plain_dsn
from shared.envelope import Envelope, EventRegistry
from shared.eventstore import PostgresEventStore
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_consumer, make_producer
from shared.projection import ProjectionRunner


class Timeline:
    """A read model with no unique key on the event id, so a double apply shows up as a
    second row. A payload with ``poison`` set is refused as a handler bug would be."""

    name = "timeline"

    def __init__(self, kill_own_backend_with: asyncpg.Connection | None = None,
                 delay: float = 0.0) -> None:
        self._killer = kill_own_backend_with
        self._delay = delay
        self.kills = 0

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        await asyncio.sleep(self._delay)  # a slow read model keeps a batch in flight
        for env in events:
            if env.payload.get("poison"):
                raise ValueError("this payload is refused")
            await conn.execute("INSERT INTO timeline (event_id, subject, n) VALUES ($1, $2, $3)",
                               env.id, env.subject, env.payload["n"])
        if self._killer is not None and self.kills == 0:
            # The database drops the runner's connection after it wrote, before it committed.
            self.kills += 1
            await self._killer.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())


async def _setup(pool: asyncpg.Pool, bootstrap: str, namespace: str) -> str:
    topic = topic_name(namespace)
    await ensure_topics(bootstrap, [topic], partitions=3)
    await pool.execute("CREATE TABLE timeline (row_id bigserial PRIMARY KEY, event_id uuid NOT NULL,"
                       " subject text NOT NULL, n int NOT NULL)")
    return topic


def _runner(pool: asyncpg.Pool, bootstrap: str, topic: str, projection: Any,
            group: str | None = None, reg: EventRegistry | None = None) -> ProjectionRunner:
    return ProjectionRunner(pool=pool, bootstrap_servers=bootstrap, group_id=group or new_group(),
                            topics=[topic], projection=projection, registry=reg or registry(),
                            max_backoff=0.5)


async def _timeline(pool: asyncpg.Pool) -> list[tuple[str, str, int]]:
    rows = await pool.fetch("SELECT event_id, subject, n FROM timeline ORDER BY row_id")
    return [(str(r["event_id"]), r["subject"], r["n"]) for r in rows]


async def _tracking(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch('SELECT event_id, topic, partition, "offset", applied_at '
                            "FROM projection_tracking ORDER BY event_id")
    return [tuple(r) for r in rows]


async def test_applies_events_once_and_a_replay_from_offset_zero_changes_nothing(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    topic = await _setup(pool, kafka_bootstrap, namespace)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    for round_ in range(3):
        for patient in ("patient-1", "patient-2", "patient-3"):
            await store.append(patient, 4 * round_, envelopes(patient, 4, start=4 * round_ + 1))
    await relay_until_sent(pool, kafka_bootstrap)
    stored = await store.read_all()

    first = _runner(pool, kafka_bootstrap, topic, Timeline())
    await first.migrate()
    async with running(first.run) as task:
        async def applied_all() -> bool:
            assert not task.done(), "the runner stopped on its own"
            return first.stats.applied >= 36
        await wait_for(applied_all, 20, "the first runner to apply 36 events")
        await asyncio.sleep(0.3)  # room for an unexpected extra apply

    timeline = await _timeline(pool)
    assert sorted(t[0] for t in timeline) == sorted(str(e.id) for e in stored)
    for patient in ("patient-1", "patient-2", "patient-3"):
        assert [n for _, s, n in timeline if s == patient] == list(range(1, 13))
    tracking = await _tracking(pool)
    assert len(tracking) == 36

    replay = _runner(pool, kafka_bootstrap, topic, Timeline())  # new group: from offset 0
    async with running(replay.run) as task:
        async def skipped_all() -> bool:
            assert not task.done(), "the replaying runner stopped on its own"
            return replay.stats.skipped >= 36
        await wait_for(skipped_all, 20, "the replay to reach the end of the topic")
        await asyncio.sleep(0.3)

    assert replay.stats.skipped == 36 and replay.stats.applied == 0
    assert await _timeline(pool) == timeline, "the replay changed the read model"
    assert await _tracking(pool) == tracking


def _record(env: Envelope, n: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return ce.encode(replace(env, stream_version=n, recorded_at=datetime.now(UTC)))


async def test_poison_goes_to_the_dead_letter_topic_and_the_rest_flows_on(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    topic = await _setup(pool, kafka_bootstrap, namespace)
    reg = registry()

    @reg.upcaster(SERVICE, "SampleRecorded", 0)
    def from_v0(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "n": data["count"]}  # a v0 record without "count" breaks it

    good = envelopes("patient-1", 6)
    key, _, garbage_headers = _record(envelopes("patient-1", 1, start=90)[0], 90)
    _, no_header_value, _ = _record(envelopes("patient-1", 1, start=91)[0], 91)
    # The refused event is the first of a stream of its own: in patient-1's stream at
    # sequence 92 it would be held back behind a gap (see the ordering tests), not refused.
    refused = envelopes("refused-stream", 1, subject="patient-1", start=92, poison_at=92)[0]
    unknown = replace(envelopes("patient-1", 1, start=93)[0],
                      type=f"carecoord.{SERVICE}.NeverHeardOf.v1")
    old = replace(envelopes("patient-1", 1, start=94)[0], type=f"carecoord.{SERVICE}.SampleRecorded.v0")
    sequence: list[tuple[str, tuple[bytes, bytes, list[tuple[str, bytes]]]]] = [
        ("good", _record(good[0], 1)),
        ("good", _record(good[1], 2)),
        ("EnvelopeDecodeError", (key, b'{"n": 90, "note": "Erika', garbage_headers)),
        ("EnvelopeDecodeError", (key, no_header_value, [])),
        ("good", _record(good[2], 3)),
        ("ValueError", _record(refused, 1)),
        ("UnknownEventType", _record(unknown, 93)),
        ("KeyError", _record(old, 94)),
        ("good", _record(good[3], 4)),
        ("good", _record(good[4], 5)),
    ]
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        offsets = []
        for _, (k, value, headers) in sequence:
            meta = await producer.send_and_wait(topic, value=value, key=k, headers=headers)
            offsets.append(meta.offset)
        assert len({m for m in offsets}) == len(sequence)

        runner = _runner(pool, kafka_bootstrap, topic, Timeline(), reg=reg)
        await runner.migrate()
        async with running(runner.run) as task:
            async def settled() -> bool:
                assert not task.done(), "a poison record stopped the runner"
                return runner.stats.applied >= 5 and runner.stats.dead_lettered >= 5
            await wait_for(settled, 20, "5 events applied and 5 dead-lettered")
            assert [n for *_, n in await _timeline(pool)] == [1, 2, 3, 4, 5]

            # Still consuming afterwards.
            await producer.send_and_wait(topic, value=_record(good[5], 6)[1], key=key,
                                         headers=_record(good[5], 6)[2])
            await wait_for(lambda: _count(pool, 6), 20, "an event after the poison")
    finally:
        await producer.stop()

    assert [n for *_, n in await _timeline(pool)] == [1, 2, 3, 4, 5, 6]
    assert runner.stats.dead_lettered == 5
    dead = await consume(kafka_bootstrap, f"{topic}.dlq", 5, settle=0.5)
    assert len(dead) == 5
    expected = {offsets[i]: kind for i, (kind, _) in enumerate(sequence) if kind != "good"}
    got = {int(header(r, "dlq_source_offset") or -1): header(r, "dlq_error_type") for r in dead}
    assert got == expected
    for r in dead:
        assert header(r, "dlq_source_topic") == topic
        assert header(r, "dlq_error")
        assert "Erika" not in (header(r, "dlq_error") or "")
        source = sequence[offsets.index(int(header(r, "dlq_source_offset") or -1))][1]
        assert r.value == source[1] and r.key == key, "the dead letter lost the original record"
    tracked = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM projection_tracking")}
    assert refused.id not in tracked, "a refused event is recorded as applied"
    assert tracked == {e.id for e in good}


async def _count(pool: asyncpg.Pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM timeline")) >= n


async def test_a_connection_lost_mid_batch_loses_nothing(
        pool: asyncpg.Pool, pg_url: str, schema: str, kafka_bootstrap: str,
        namespace: str) -> None:
    topic = await _setup(pool, kafka_bootstrap, namespace)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    for patient in ("patient-1", "patient-2"):
        await store.append(patient, 0, envelopes(patient, 10))
    await relay_until_sent(pool, kafka_bootstrap)

    app_name = f"runner-{schema}"  # the runner's own pool, to cut off from outside
    runner_pool = await asyncpg.create_pool(
        plain_dsn(pg_url), min_size=3, max_size=3,
        server_settings={"search_path": schema, "application_name": app_name})
    killer = await asyncpg.connect(plain_dsn(pg_url))
    timeline = Timeline(kill_own_backend_with=killer)
    runner = _runner(runner_pool, kafka_bootstrap, topic, timeline)  # tables: store.migrate() above
    try:
        async with running(runner.run) as task:
            async def all_applied() -> bool:
                assert not task.done(), "the lost connection stopped the runner"
                return runner.stats.applied >= 20
            await wait_for(all_applied, 20, "all 20 events after the lost connection")

            # And once more from outside: every connection of the runner's pool goes away.
            killed = await killer.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1", app_name)
            assert killed >= 1
            await store.append("patient-3", 0, envelopes("patient-3", 5))
            await relay_until_sent(pool, kafka_bootstrap)
            await wait_for(lambda: _count(pool, 25), 20, "events after the pool was cut off")
            await asyncio.sleep(0.3)
    finally:
        await killer.close()
        await runner_pool.close()

    assert timeline.kills == 1
    assert runner.stats.retries >= 1, "the connection loss was never noticed"
    rows = await _timeline(pool)
    assert len(rows) == 25 and len({r[0] for r in rows}) == 25, "lost or doubled events"
    assert {r[0] for r in rows} == {str(e.id) for e in await store.read_all()}


async def test_two_runners_in_one_group_share_the_work_across_a_rebalance(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    """A second instance joining mid-stream takes partitions away from the first one while
    it works: neither stops, and every event is applied once, in each patient's order."""
    topic = await _setup(pool, kafka_bootstrap, namespace)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    patients = [f"patient-{i}" for i in range(6)]
    for round_ in range(5):
        for patient in patients:
            await store.append(patient, 3 * round_, envelopes(patient, 3, start=3 * round_ + 1))
    await relay_until_sent(pool, kafka_bootstrap)
    group = new_group()

    def instance() -> ProjectionRunner:
        runner = _runner(pool, kafka_bootstrap, topic, Timeline(delay=0.1), group=group)
        runner.max_records = 5  # small, slow batches: the rebalance lands mid-work
        # Frequent heartbeats only make the group notice the newcomer sooner.
        runner.consumer_factory = lambda: make_consumer(kafka_bootstrap, group, topic,
                                                        heartbeat_interval_ms=200)
        return runner

    one, two = instance(), instance()
    await one.migrate()

    async with running(one.run) as first:
        await wait_for(lambda: _count(pool, 10), 20, "the first instance to start applying")
        async with running(two.run) as second:
            async def everything() -> bool:
                assert not first.done(), "the first instance stopped during the rebalance"
                assert not second.done(), "the second instance stopped during the rebalance"
                return await _count(pool, 90)
            await wait_for(everything, 30, "all 90 events with two instances")
            await asyncio.sleep(0.5)

    rows = await _timeline(pool)
    assert len(rows) == 90 and len({r[0] for r in rows}) == 90, "lost or doubled events"
    for patient in patients:
        assert [n for _, s, n in rows if s == patient] == list(range(1, 16))
    assert one.stats.applied + two.stats.applied == 90
    assert two.stats.applied + two.stats.skipped > 0, "the second instance never got work"
