"""Append rate with a large store: pharmacy courses loaded by binary COPY, then the kernel
bench's append workloads (tests/bench/appends.py: ``PostgresEventStore.append`` with the
outbox topic set, 4 writers, single-event and 100-event appends) at each size.

Loading: the ``events`` table's indexes and constraints (and the foreign keys that point at
it) are read from the catalogue, dropped, the rows copied by two processes at once, every
row given a sent outbox row (as the relay leaves them), and the indexes built again, the
way a bulk load is done; whatever a later migration adds to the table is rebuilt the same
way, because the definitions come from the database, not from here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from shared.db import create_pool, plain_dsn
from shared.eventstore import PostgresEventStore
from tests.bench.appends import make_plan, run_ours
from tests.bench.common import BenchEnv, Sizes, progress
from tests.bench.scale.rows import COLUMNS, COPY_HEADER, COPY_TRAILER, CourseTemplate, course_rows

RECORDED_FROM = datetime(2025, 6, 1, tzinfo=UTC)
SMALL_FILL = 200_000  # rows copied by this process alone
CHUNK_COURSES = 500  # courses per COPY message (~3 MB of rows at 10 events each)


@dataclass
class FillStats:
    rows: int
    copy_seconds: float
    outbox_seconds: float
    index_seconds: float  # indexes and constraints rebuilt, then vacuumed and analysed

    @property
    def seconds(self) -> float:
        return self.copy_seconds + self.outbox_seconds + self.index_seconds


@dataclass
class AppendLine:
    stored: int  # events in the store before the measurement
    single: list[float]  # events/s per round, single-event appends
    batch: list[float]  # events/s per round, 100-event appends
    fill: FillStats | None


# --------------------------------------------------------------------------- loading


async def _chunks(template: CourseTemplate, first: int, count: int, position: int) -> AsyncIterator[bytes]:
    """The COPY stream, each chunk made in a thread while the previous one is on its way: the
    event loop keeps the socket full, so the database never waits for Python."""
    yield COPY_HEADER
    starts = list(range(first, first + count, CHUNK_COURSES))

    def make(start: int) -> asyncio.Future[bytes]:
        n = min(CHUNK_COURSES, first + count - start)
        return asyncio.ensure_future(asyncio.to_thread(
            course_rows, template, start, n, RECORDED_FROM, position + (start - first) * len(template)))

    ahead = make(starts[0]) if starts else None
    for i in range(len(starts)):
        assert ahead is not None
        chunk = await ahead
        ahead = make(starts[i + 1]) if i + 1 < len(starts) else None
        yield chunk
    yield COPY_TRAILER


async def _copy(dsn: str, schema: str, template: CourseTemplate, first: int, count: int, position: int) -> None:
    conn = await asyncpg.connect(plain_dsn(dsn), server_settings={"search_path": schema})
    try:
        await conn.copy_to_table("events", source=_chunks(template, first, count, position), columns=list(COLUMNS),
                                 schema_name=schema, format="binary")
    finally:
        await conn.close()


def _copy_part(dsn: str, schema: str, template: CourseTemplate, first: int, count: int, position: int) -> None:
    asyncio.run(_copy(dsn, schema, template, first, count, position))


async def _definitions(conn: asyncpg.Connection) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]],
                                                          list[str]]:
    """(foreign keys into events: table, name, definition), (events' constraints: name,
    definition), (events' other indexes: CREATE INDEX statements)."""
    fks = [(r["tbl"], r["conname"], r["def"]) for r in await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE confrelid = 'events'::regclass AND contype = 'f'")]
    constraints = [(r["conname"], r["def"]) for r in await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u', 'x') ORDER BY contype, conname")]
    indexes = [r["indexdef"] for r in await conn.fetch(
        "SELECT i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename = 'events' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = "
        "(quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)")]
    return fks, constraints, indexes


async def fill(dsn: str, schema: str, template: CourseTemplate, first_course: int, courses: int,
               topic: str, processes: int = 2) -> FillStats:
    """Courses ``first_course`` .. + ``courses`` into ``schema``'s events (and sent outbox rows)."""
    conn = await asyncpg.connect(plain_dsn(dsn), server_settings={"search_path": schema})
    try:
        fks, constraints, indexes = await _definitions(conn)
        before = int(await conn.fetchval("SELECT coalesce(max(global_position), 0) FROM events"))
        position = int(await conn.fetchval("SELECT count(*) FROM events"))
        for table, name, _ in fks:
            await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in constraints:
            await conn.execute(f'ALTER TABLE events DROP CONSTRAINT "{name}"')
        for statement in indexes:
            name = statement.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
            await conn.execute(f"DROP INDEX {name}")
        t0 = time.perf_counter()
        share = -(-courses // processes)
        parts = [(first_course + i * share, min(share, courses - i * share)) for i in range(processes)
                 if courses - i * share > 0]
        if courses * len(template) < SMALL_FILL:  # starting processes would take longer than the copy
            await _copy(dsn, schema, template, first_course, courses, position)
        else:
            loop = asyncio.get_running_loop()
            with ProcessPoolExecutor(len(parts), mp_context=multiprocessing.get_context("spawn")) as pool:
                await asyncio.gather(*(loop.run_in_executor(pool, _copy_part, dsn, schema, template, first, n,
                                                            position + (first - first_course) * len(template))
                                       for first, n in parts))
        copied = time.perf_counter()
        await conn.execute("INSERT INTO outbox (global_position, topic, sent_at) "
                           "SELECT global_position, $2, recorded_at FROM events WHERE global_position > $1",
                           before, topic)
        boxed = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in constraints:
            await conn.execute(f'ALTER TABLE events ADD CONSTRAINT "{name}" {definition}')
        for statement in indexes:
            await conn.execute(statement)
        for table, name, definition in fks:
            await conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        # The vacuum a live store's autovacuum would have spread over its history; left to
        # autovacuum, it runs over the whole bulk load during the measurement that follows.
        await conn.execute("VACUUM (ANALYZE) events")
        await conn.execute("VACUUM (ANALYZE) outbox")
        done = time.perf_counter()
    finally:
        await conn.close()
    return FillStats(courses * len(template), copied - t0, boxed - copied, done - boxed)


# --------------------------------------------------------------------------- appending


async def append_rates(env: BenchEnv, store: PostgresEventStore, tag: str) -> tuple[list[float], list[float]]:
    """The kernel bench's two append workloads, ``env.sizes.rounds`` rounds each after a warm-up."""
    s = env.sizes
    single: list[float] = []
    batch: list[float] = []
    await run_ours(store, make_plan(env, f"{tag}w", max(1, s.single_appends // 5), 1))
    for r in range(1, s.rounds + 1):
        single.append(await run_ours(store, make_plan(env, f"{tag}s{r}", s.single_appends, 1)))
        batch.append(await run_ours(store, make_plan(env, f"{tag}b{r}", s.batch_appends, s.batch)))
        progress(f"append at {tag}: round {r}: single {single[-1]:,.0f} ev/s, {s.batch}-event {batch[-1]:,.0f} ev/s")
    return single, batch


def append_sizes(quick: bool) -> Sizes:
    """The kernel bench's sizes, fewer rounds and appends: a step per store size, not a duel."""
    if quick:
        return replace(Sizes.quick(), rounds=2, writers=4, single_appends=60, batch_appends=8, batch=100)
    return replace(Sizes.full(), rounds=3, writers=4, single_appends=200, batch_appends=30, batch=100)


async def open_store(dsn: str, schema: str, topic: str) -> tuple[asyncpg.Pool, PostgresEventStore]:
    pool = await create_pool(dsn, schema, size=4)
    return pool, PostgresEventStore(pool, outbox_topic=topic)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
