"""The PostgreSQL event store under real concurrency: optimistic locking picks exactly one
winner, and a reader tailing the global order never skips an event committed late."""

from __future__ import annotations

import asyncio
import random
import time

import asyncpg
from kernel_support import envelopes

from shared.eventstore import AppendResult, ConcurrencyError, PostgresEventStore


async def test_concurrent_writers_with_the_same_expected_version_one_wins(
        pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    await store.migrate()
    await store.append("course-1", 0, envelopes("course-1", 2))
    writers = 12
    gate = asyncio.Event()
    # Open every pooled connection first so the writers really run side by side.
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    for conn in held:
        await pool.release(conn)

    async def linger(_conn: asyncpg.Connection, _result: AppendResult) -> None:
        await asyncio.sleep(0.05)  # the winner's transaction stays open while others try

    async def writer(i: int) -> AppendResult:
        batch = envelopes("course-1", 3, start=100 * i)
        await gate.wait()
        return await store.append("course-1", 2, batch, within=linger)

    tasks = [asyncio.create_task(writer(i)) for i in range(1, writers + 1)]
    await asyncio.sleep(0.05)
    gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    winners = [o for o in outcomes if isinstance(o, AppendResult)]
    losers = [o for o in outcomes if isinstance(o, ConcurrencyError)]
    assert len(winners) == 1, outcomes
    assert len(losers) == writers - 1, outcomes
    assert all(e.expected == 2 and e.actual == 5 for e in losers)
    stream = await store.read_stream("course-1")
    assert [e.stream_version for e in stream] == [1, 2, 3, 4, 5]
    assert [e.id for e in stream[2:]] == [e.id for e in winners[0].events]
    assert await pool.fetchval("SELECT count(*) FROM events") == 5
    assert (await store.verify("course-1")).ok


async def test_tailing_reader_sees_every_event_despite_late_commits(pool: asyncpg.Pool) -> None:
    """Writers on different streams hold their transactions open for random moments after
    drawing positions; a reader polling ``read_all(after_position=last)`` all the while
    must end up with exactly the store's events in global order, none skipped."""
    store = PostgresEventStore(pool)
    await store.migrate()
    stop = asyncio.Event()
    rng = random.Random(7)
    appended = 0

    async def slow_commit(_conn: asyncpg.Connection, _result: AppendResult) -> None:
        await asyncio.sleep(rng.uniform(0, 0.02))

    async def writer(w: int) -> None:
        nonlocal appended
        version = 0
        while not stop.is_set():
            batch = envelopes(f"stream-{w}", rng.randint(1, 3), start=version + 1)
            await store.append(f"stream-{w}", version, batch,
                               within=slow_commit if rng.random() < 0.7 else None)
            version += len(batch)
            appended += len(batch)

    writers_done = asyncio.Event()
    seen: list[int] = []
    seen_ids: list[str] = []

    async def reader() -> None:
        last = 0
        while True:
            done = writers_done.is_set()  # one more read after the last commit
            page = await store.read_all(after_position=last, limit=50)
            for env in page:
                assert env.global_position is not None
                seen.append(env.global_position)
                seen_ids.append(str(env.id))
                last = env.global_position
            if done and not page:
                return
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(w)) for w in range(6)]
    tail = asyncio.create_task(reader())
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.5:
        await asyncio.sleep(0.1)
        assert not tail.done(), "the reader died"
    stop.set()
    await asyncio.gather(*writers)
    writers_done.set()
    await asyncio.wait_for(tail, 10)

    stored = await pool.fetch("SELECT global_position, event_id FROM events ORDER BY global_position")
    assert appended > 100, f"too little traffic to mean anything ({appended} events)"
    assert len(stored) == appended
    assert seen == sorted(seen), "the reader saw positions out of order"
    missing = {r["global_position"] for r in stored} - set(seen)
    assert not missing, f"the tailing reader skipped {len(missing)} committed events"
    assert seen == [r["global_position"] for r in stored]
    assert seen_ids == [str(r["event_id"]) for r in stored]
    for w in range(6):
        assert (await store.verify(f"stream-{w}")).ok
