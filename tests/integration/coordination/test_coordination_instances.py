"""Two coordination instances in one consumer group share the partitions of the four input
topics; a patient's events arrive on partitions the two instances split between them, and
the per-patient lock keeps them from projecting one patient at once. The read models they
build together equal those of a single instance that read the same topics alone."""

from __future__ import annotations

import asyncio
import uuid

from coordination_support import (
    checksum,
    input_topics,
    projecting,
    publish_history,
    until_caught_up,
)

from services.coordination.app import create_app
from services.coordination.deps import CoordinationContext
from services.coordination.projection.store import lock_patients
from shared.db import create_pool
from tests.bench.coordination import synthetic_history
from tests.support.services import make_settings, running


def partitions_of(context: CoordinationContext) -> set[tuple[str, int]]:
    consumer = context.projection._consumer  # the runner's live assignment
    return {(tp.topic, tp.partition) for tp in consumer.assignment()} if consumer else set()


async def test_two_instances_build_what_one_builds(pg_url: str, kafka_bootstrap: str, schema: str,
                                                   namespace: str) -> None:
    settings = make_settings("coordination", pg_url=pg_url, kafka=kafka_bootstrap, schema=schema,
                             namespace=namespace)
    events = synthetic_history(patients=30, seed=11)
    half = len(events) // 2
    async with running(create_app, settings) as (first, _):
        pool = first.state.runtime.pool
        await publish_history(kafka_bootstrap, settings, events[:half])
        async with running(create_app, settings) as (second, _):  # joins the group mid-stream
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not partitions_of(second.state.context):  # the rebalance hands it its share
                assert loop.time() < deadline, "the second instance never got partitions"
                await asyncio.sleep(0.1)
            await publish_history(kafka_bootstrap, settings, events[half:])
            while int(await pool.fetchval("SELECT count(*) FROM timeline_entries")) < len(events):
                assert loop.time() < deadline, "the two instances did not project every event"
                await asyncio.sleep(0.2)
            a, b = first.state.context, second.state.context
            mine, theirs = partitions_of(a), partitions_of(b)
            assert mine and theirs and not mine & theirs
            # The same partition number of two topics (the same patients) on both instances:
            # without the per-patient lock they could project one patient at once.
            assert {p for _, p in mine} & {p for _, p in theirs}
            await asyncio.sleep(0.5)
        applied = a.projection.stats.applied + b.projection.stats.applied
        assert b.projection.stats.applied > 0 and applied == len(events)
        together = await checksum(pool)

    alone = await create_pool(pg_url, f"{schema}_single", size=4)
    try:
        async with projecting(alone, kafka_bootstrap, f"single-{uuid.uuid4().hex[:8]}",
                              input_topics(settings)) as single:
            await until_caught_up(single)
        assert await checksum(alone) == together
    finally:
        await alone.close()


async def test_a_patients_lock_makes_a_second_batch_wait_for_the_first(pool) -> None:  # type: ignore[no-untyped-def]
    async with pool.acquire() as one, pool.acquire() as two:
        async with one.transaction():
            await lock_patients(one, ["patient-1", "patient-2"])
            async with two.transaction():
                await two.execute("SET LOCAL lock_timeout = '200ms'")
                await lock_patients(two, ["patient-3"])  # another patient: no wait
            blocked = asyncio.create_task(_lock_in_transaction(two, ["patient-2", "patient-4"]))
            await asyncio.sleep(0.3)
            assert not blocked.done(), "a second batch took a patient's lock while the first held it"
        await asyncio.wait_for(blocked, 5)  # the first committed: the second goes on


async def _lock_in_transaction(conn, patients: list[str]) -> None:  # type: ignore[no-untyped-def]
    async with conn.transaction():
        await lock_patients(conn, patients)
