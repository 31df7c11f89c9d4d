"""(a) and (d): event-store append throughput.

Three writers of the same events, each in its own schema of the same database:

* ours: ``PostgresEventStore.append`` with the outbox topic set, as services use it
  (advisory lock, head read, hash chain, events + outbox rows in one transaction);
* raw: asyncpg writing the same rows into an equivalent ``events`` table (same columns and
  indexes, no outbox, no lock, no chain): one INSERT per event, or COPY for a batch;
* eventsourcing: ``PostgresApplicationRecorder.insert_events`` (psycopg 3, a table lock per
  insert) with ``StoredEvent`` objects whose state is the same event content as JSON.

Every side runs ``writers`` concurrent writers (asyncio tasks; threads for the synchronous
library) doing the same number of appends of the same size.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
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


def make_plan(env: BenchEnv, tag: str, appends: int, per_append: int) -> Plan:
    """Every writer appends to its own streams; a stream takes ten appends, so most
    appends find an existing head (as a command on a live aggregate does)."""
    plan: Plan = []
    nonce = uuid.uuid4().hex[:6]
    for w in range(env.sizes.writers):
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


def es_datastore(env: BenchEnv, schema: str) -> PostgresDatastore:
    url = urlsplit(env.pg_url.replace("+asyncpg", ""))
    return PostgresDatastore(
        dbname=url.path.lstrip("/") or "postgres",
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "",
        password=url.password or "",
        pool_size=env.sizes.writers,
        schema=schema,
    )


async def create_schema(env: BenchEnv, schema: str) -> None:
    pool = await create_pool(env.pg_url, schema, size=1)  # creates the schema
    await pool.close()


async def bench_appends(env: BenchEnv) -> list[Comparison]:
    s = env.sizes
    ours_schema, raw_schema, es_schema = env.schema("ours"), env.schema("raw"), env.schema("es")
    ours_pool = await create_pool(env.pg_url, ours_schema, size=s.writers)
    raw_pool = await create_pool(env.pg_url, raw_schema, size=s.writers)
    executor = ThreadPoolExecutor(max_workers=s.writers, thread_name_prefix="es-writer")
    datastore = es_datastore(env, es_schema)
    try:
        store = PostgresEventStore(ours_pool, outbox_topic=env.topic("appends"))
        await store.migrate()
        await raw_pool.execute(RAW_DDL)
        await create_schema(env, es_schema)
        recorder = PostgresApplicationRecorder(datastore, events_table_name="stored_events")
        await asyncio.get_running_loop().run_in_executor(executor, recorder.create_table)

        def sides(appends: int, per_append: int) -> list[tuple[str, Timed]]:
            warm = max(1, appends // 5)

            def n(r: int) -> int:
                return warm if r == 0 else appends

            async def ours(r: int) -> float:
                return await run_ours(store, make_plan(env, f"o{r}", n(r), per_append))

            async def raw(r: int) -> float:
                return await run_raw(raw_pool, raw_schema, make_plan(env, f"r{r}", n(r), per_append))

            async def es(r: int) -> float:
                return await run_es(recorder, executor, make_plan(env, f"e{r}", n(r), per_append))

            return [("ours", ours), ("raw", raw), ("eventsourcing", es)]

        progress(f"append: {s.writers} writers × {s.single_appends} single-event appends per round")
        single = await interleaved("append 1-event", sides(s.single_appends, 1), s.rounds)
        progress(f"append: {s.writers} writers × {s.batch_appends} appends of {s.batch} events per round")
        batch = await interleaved(f"append {s.batch}-event", sides(s.batch_appends, s.batch), s.rounds)
    finally:
        executor.shutdown(wait=True)
        datastore.close()
        await ours_pool.close()
        await raw_pool.close()

    w = f"{s.writers} writers"
    return [
        Comparison(f"append 1 event ({w})", single["ours"], "asyncpg INSERT", single["raw"]),
        Comparison(f"append {s.batch} events ({w})", batch["ours"], "asyncpg COPY", batch["raw"],
                   min_rate=20_000),
        Comparison(f"append 1 event vs eventsourcing ({w})", single["ours"],
                   "eventsourcing 9.5.6", single["eventsourcing"]),
        Comparison(f"append {s.batch} events vs eventsourcing ({w})", batch["ours"],
                   "eventsourcing 9.5.6", batch["eventsourcing"], min_ratio=2.0),
    ]
