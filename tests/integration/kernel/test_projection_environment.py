"""Failures that are not the messages' fault dead-letter nothing: a read model's table
missing after a deploy, or a read model failing every event the same way, holds the
batch back (reported as failing) until it is fixed, then every event applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from kernel_support import envelopes, new_group, registry, running, topic_name, wait_for
from pydantic import BaseModel

from shared.envelope import Envelope
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_producer
from shared.kafka.security import client_security
from shared.projection import ProjectionRunner


class LateTable:
    """Writes to a table the deploy's migration has not created yet."""

    name = "late"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            await conn.execute("INSERT INTO late_table (event_id) VALUES ($1)", env.id)


class Broken:
    """A read model bug: every event fails, and in the same way, until ``fixed``."""

    name = "broken"

    def __init__(self) -> None:
        self.fixed = False

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        if not self.fixed:
            raise RuntimeError("read model bug")
        for env in events:
            await conn.execute("INSERT INTO late_table (event_id) VALUES ($1)", env.id)


async def _publish(bootstrap: str, topic: str, count: int) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for i in range(count):
            env = replace(envelopes(f"stream-{i}", 1)[0], stream_version=1, recorded_at=datetime.now(UTC))
            key, value, headers = ce.encode(env)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _dead_letters(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(**client_security(), bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(f"{topic}.dlq", 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def _rows(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM late_table"))


async def _run_until_fixed(pool: asyncpg.Pool, bootstrap: str, namespace: str, projection: LateTable | Broken,
                           fix: object, error_type: str) -> None:
    topic = topic_name(namespace)
    await ensure_topics(bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    await _publish(bootstrap, topic, 5)
    runner = ProjectionRunner(pool=pool, bootstrap_servers=bootstrap, group_id=new_group(), topics=[topic],
                              projection=projection, registry=registry(), max_backoff=0.2)
    runner.stuck_after = 0.5
    await runner.migrate()
    async with running(runner.run) as task:
        async def tried() -> bool:
            assert not task.done(), "the runner stopped"
            return runner.stats.retries >= 3 or runner.stats.dead_lettered > 0
        await wait_for(tried, 20, "the runner to meet the failure")
        assert runner.stats.dead_lettered == 0, "good events were dead-lettered"
        report = await runner.report()
        assert report.last_error_type == error_type
        await wait_for(lambda: _status(runner, "stuck"), 10, "the runner to be reported stuck")
        assert (await runner.report()).lag == 5, "the held-back batch is not shown as lag"

        await fix()  # type: ignore[operator]

        async def applied() -> bool:
            return await _rows(pool) == 5
        await wait_for(applied, 20, "every event after the fix")
        await wait_for(lambda: _status(runner, "ok"), 10, "the runner to be reported ok again")
    assert runner.stats.dead_lettered == 0
    assert await _dead_letters(bootstrap, topic) == 0


async def _status(runner: ProjectionRunner, status: str) -> bool:
    return (await runner.report()).status == status


async def test_a_table_missing_after_a_deploy_dead_letters_nothing(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    async def migrate() -> None:
        await pool.execute("CREATE TABLE late_table (event_id uuid PRIMARY KEY)")

    await _run_until_fixed(pool, kafka_bootstrap, namespace, LateTable(), migrate, "UndefinedTableError")


async def test_every_event_failing_the_same_way_is_not_poison(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    await pool.execute("CREATE TABLE late_table (event_id uuid PRIMARY KEY)")
    projection = Broken()

    async def deploy_fix() -> None:
        projection.fixed = True

    await _run_until_fixed(pool, kafka_bootstrap, namespace, projection, deploy_fix, "SameFailureEverywhere")


class Strict:
    """A read model whose payload model refuses every one of these events: each is poison
    in its own right, however alike the refusals look."""

    name = "strict"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            Needs.model_validate(env.payload)


class Needs(BaseModel):
    missing_field: int


async def test_events_refused_alike_by_their_model_are_still_dead_lettered(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    await _publish(kafka_bootstrap, topic, 3)
    runner = ProjectionRunner(pool=pool, bootstrap_servers=kafka_bootstrap, group_id=new_group(), topics=[topic],
                              projection=Strict(), registry=registry(), max_backoff=0.2)
    await runner.migrate()
    async with running(runner.run):
        async def dead() -> bool:
            return runner.stats.dead_lettered == 3
        await wait_for(dead, 20, "the three refused events to be dead-lettered")
    assert await _dead_letters(kafka_bootstrap, topic) == 3
