"""(a) and (d): event-store append throughput.

Three writers of the same events, each in its own schema of the same database:

* ours: ``PostgresEventStore.append`` with the outbox topic set, as services use it
  (advisory lock, head read, hash chain, events + outbox rows in one transaction);
* raw: asyncpg writing the same rows into an equivalent ``events`` table (same columns and
  indexes, no outbox, no lock, no chain): one INSERT per event, or COPY for a batch;
* eventsourcing: ``PostgresApplicationRecorder.insert_events`` (psycopg 3, a table lock per
  insert) with ``StoredEvent`` objects whose state is the same event content as JSON.

Every side runs ``writers`` concurrent writers (asyncio tasks; threads for the synchronous
library) doing the same number of appends of the same size; single-event appends run again
with ``many_writers`` (16) writers, where a store that serialises its writers shows it most.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version
from urllib.parse import urlsplit

import asyncpg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from shared.db import create_pool
from shared.envelope import Envelope, canonical_content
from shared.eventstore import PostgresEventStore
from tests.bench.common import (
    BenchEnv,
    Comparison,
    Timed,
    envelopes,
    interleaved,
    patient,
    progress,
    rate,
)

RAW_DDL = """
CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL,
    stream_version integer NOT NULL,
    event_type text NOT NULL,
    source text NOT NULL,
    subject text NOT NULL,
    clinic_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    correlation_id text,
    causation_id text,
    actor text,
    traceparent text,
    payload jsonb NOT NULL,
    hash bytea NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_subject ON events (subject, global_position);
"""
RAW_COLUMNS = ["event_id", "stream_id", "stream_version", "event_type", "source", "subject",
               "clinic_id", "occurred_at", "recorded_at", "correlation_id", "causation_id",
               "actor", "traceparent", "payload", "hash"]
RAW_INSERT = (f"INSERT INTO events ({', '.join(RAW_COLUMNS)}) VALUES "
              f"({', '.join(f'${i}' for i in range(1, len(RAW_COLUMNS) + 1))})")
FAKE_HASH = bytes(range(32))


@dataclass(frozen=True)
class Append:
    stream_id: str
    expected_version: int
    events: list[Envelope]


Plan = list[list[Append]]  # per writer, its appends in order


def make_plan(env: BenchEnv, tag: str, appends: int, per_append: int, writers: int | None = None) -> Plan:
    """Every writer appends to its own streams; a stream takes ten appends, so most
    appends find an existing head (as a command on a live aggregate does)."""
    plan: Plan = []
    nonce = uuid.uuid4().hex[:6]
    for w in range(writers or env.sizes.writers):
        mine: list[Append] = []
        for i in range(appends):
            stream_no, nth = divmod(i, 10)
            stream = f"{tag}-{nonce}-w{w}-s{stream_no}"
            events = envelopes(stream, patient(w * 1000 + stream_no), per_append,
                               start=nth * per_append)
            mine.append(Append(stream, nth * per_append, events))
        plan.append(mine)
    return plan


def count(plan: Plan) -> int:
    return sum(len(a.events) for writer in plan for a in writer)


# --------------------------------------------------------------------------- sides


async def run_ours(store: PostgresEventStore, plan: Plan) -> float:
    async def writer(appends: list[Append]) -> None:
        for a in appends:
            await store.append(a.stream_id, a.expected_version, a.events)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in plan))
    return rate(count(plan), time.perf_counter() - t0)


def raw_row(a: Append, i: int, env: Envelope, now: datetime) -> tuple[object, ...]:
    return (env.id, env.stream_id, a.expected_version + i + 1, env.type, env.source,
            env.subject, env.clinic_id, env.time, now, env.correlation_id, env.causation_id,
            env.actor, env.traceparent, json.dumps(env.payload, separators=(",", ":")),
            FAKE_HASH)


async def run_raw(pool: asyncpg.Pool, schema: str, plan: Plan) -> float:
    async def writer(appends: list[Append]) -> None:
        for a in appends:
            now = datetime.now(UTC)
            rows = [raw_row(a, i, e, now) for i, e in enumerate(a.events)]
            async with pool.acquire() as conn:
                if len(rows) == 1:
                    await conn.execute(RAW_INSERT, *rows[0])
                else:
                    await conn.copy_records_to_table("events", records=rows, columns=RAW_COLUMNS,
                                                     schema_name=schema)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in plan))
    return rate(count(plan), time.perf_counter() - t0)


def stored_events(plan: Plan) -> list[list[list[StoredEvent]]]:
    """The library's input: what its mapper would have made of the same events (the
    mapping itself is not timed, which favours the library)."""
    now = datetime.now(UTC)
    out = []
    for appends in plan:
        mine = []
        for a in appends:
            originator = uuid.uuid5(uuid.NAMESPACE_URL, a.stream_id)
            mine.append([
                StoredEvent(originator_id=originator, originator_version=a.expected_version + i + 1,
                            topic="services.pharmacy.domain.events:DoseAdjusted",
                            state=canonical_content(replace(e, stream_version=a.expected_version + i + 1,
                                                                   recorded_at=now)))
                for i, e in enumerate(a.events)])
        out.append(mine)
    return out


async def run_es(recorder: PostgresApplicationRecorder, executor: ThreadPoolExecutor,
                 plan: Plan) -> float:
    batches = stored_events(plan)

    def writer(appends: list[list[StoredEvent]]) -> None:
        for events in appends:
            recorder.insert_events(events)

    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    await asyncio.gather(*(loop.run_in_executor(executor, writer, w) for w in batches))
    return rate(count(plan), time.perf_counter() - t0)


# --------------------------------------------------------------------------- setup


def es_datastore(env: BenchEnv, schema: str, pool_size: int) -> PostgresDatastore:
    url = urlsplit(env.pg_url.replace("+asyncpg", ""))
    return PostgresDatastore(
        dbname=url.path.lstrip("/") or "postgres",
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "",
        password=url.password or "",
        pool_size=pool_size,
        schema=schema,
    )


async def create_schema(env: BenchEnv, schema: str) -> None:
    pool = await create_pool(env.pg_url, schema, size=1)  # creates the schema
    await pool.close()


async def open_pool(env: BenchEnv, schema: str, size: int) -> asyncpg.Pool:
    """A pool with all ``size`` connections open, so that no timed run pays for connecting."""
    pool = await create_pool(env.pg_url, schema, size=size)
    held = [await pool.acquire() for _ in range(size)]
    for conn in held:
        await pool.release(conn)
    return pool


async def bench_appends(env: BenchEnv) -> list[Comparison]:
    s = env.sizes
    ours_schema, raw_schema, es_schema = env.schema("ours"), env.schema("raw"), env.schema("es")
    # A connection per writer and side, opened for each run and closed after it: with 16 writers
    # three sides' pools kept open would take half of PostgreSQL's 100 connections.
    executor = ThreadPoolExecutor(max_workers=max(s.writers, s.many_writers), thread_name_prefix="es-writer")
    setup = await create_pool(env.pg_url, ours_schema, size=1)
    try:
        await PostgresEventStore(setup, outbox_topic=env.topic("appends")).migrate()
    finally:
        await setup.close()
    setup = await create_pool(env.pg_url, raw_schema, size=1)
    try:
        await setup.execute(RAW_DDL)
    finally:
        await setup.close()
    await create_schema(env, es_schema)
    loop = asyncio.get_running_loop()
    datastore = es_datastore(env, es_schema, 1)
    try:
        await loop.run_in_executor(executor, PostgresApplicationRecorder(datastore, events_table_name="stored_events")
                                   .create_table)
    finally:
        datastore.close()

    def sides(appends: int, per_append: int, writers: int) -> list[tuple[str, Timed]]:
        warm = max(1, appends // 5)

        def plan(tag: str, r: int) -> Plan:
            return make_plan(env, f"{tag}{writers}-{r}", warm if r == 0 else appends, per_append, writers)

        async def ours(r: int) -> float:
            pool = await open_pool(env, ours_schema, writers)
            try:
                return await run_ours(PostgresEventStore(pool, outbox_topic=env.topic("appends")), plan("o", r))
            finally:
                await pool.close()

        async def raw(r: int) -> float:
            pool = await open_pool(env, raw_schema, writers)
            try:
                return await run_raw(pool, raw_schema, plan("r", r))
            finally:
                await pool.close()

        async def es(r: int) -> float:
            datastore = es_datastore(env, es_schema, writers)
            try:
                recorder = PostgresApplicationRecorder(datastore, events_table_name="stored_events")
                await loop.run_in_executor(executor, datastore.pool.open, True, 30.0)  # every connection open
                return await run_es(recorder, executor, plan("e", r))
            finally:
                await loop.run_in_executor(executor, datastore.close)

        return [("ours", ours), ("raw", raw), ("eventsourcing", es)]

    try:
        progress(f"append: {s.writers} writers × {s.single_appends} single-event appends per round")
        single = await interleaved("append 1-event", sides(s.single_appends, 1, s.writers), s.rounds)
        progress(f"append: {s.many_writers} writers × {s.many_single_appends} single-event appends per round")
        many = await interleaved(f"append 1-event x{s.many_writers}",
                                 sides(s.many_single_appends, 1, s.many_writers), s.rounds)
        progress(f"append: {s.writers} writers × {s.batch_appends} appends of {s.batch} events per round")
        batch = await interleaved(f"append {s.batch}-event", sides(s.batch_appends, s.batch, s.writers), s.rounds)
    finally:
        executor.shutdown(wait=True)

    w, m = f"{s.writers} writers", f"{s.many_writers} writers"
    es = f"eventsourcing {version('eventsourcing')}"
    return [
        Comparison(f"append {s.batch} events ({w})", batch["ours"], "asyncpg COPY", batch["raw"],
                   min_ratio=0.7, goal=f"{s.batch}-event appends >= 0.7x a raw COPY of the same rows"),
        Comparison(f"append {s.batch} events vs eventsourcing ({w})", batch["ours"], es, batch["eventsourcing"],
                   min_ratio=3.0, goal=f"{s.batch}-event appends >= 3x the eventsourcing library"),
        Comparison(f"append 1 event vs eventsourcing ({w})", single["ours"], es, single["eventsourcing"],
                   min_ratio=3.0, goal=f"single-event appends >= 3x eventsourcing, {w}"),
        Comparison(f"append 1 event vs eventsourcing ({m})", many["ours"], es, many["eventsourcing"],
                   min_ratio=3.0, goal=f"single-event appends >= 3x eventsourcing, {m}"),
        Comparison(f"append 1 event ({w})", single["ours"], "asyncpg INSERT", single["raw"]),
        Comparison(f"append 1 event ({m})", many["ours"], "asyncpg INSERT", many["raw"]),
    ]
