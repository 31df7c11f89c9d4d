"""``carecoord replay --patient ID [--until TIME]``: one patient's history, as recorded by a
moment, replayed from the topics into a scratch schema and printed (timeline, summary, flags).

Only the partition the patient's key hashes to is read on each topic (the producers' default
partitioner, as the relay and every service use), from offset 0 to the end seen at the start.
Events recorded after ``until`` are left out and the rules evaluate as of ``until``, so the
print is what coordination would have shown at that moment. Nothing live is touched; the scratch
schema is dropped afterwards unless kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from services.coordination import handlers
from services.coordination.app import rules_config
from services.coordination.flagging.evaluation import Flagging
from services.coordination.flagging.model import flag_json, from_row
from services.coordination.migrations import migrate_read_models
from services.coordination.projection.facts import read
from services.coordination.projection.state import PatientSummary
from services.coordination.projection.store import CoordinationProjection
from services.coordination.projection.view import summary_view
from services.coordination.settings import CoordinationSettings
from shared.db import create_pool
from shared.envelope import Envelope
from shared.eventstore import PostgresEventStore
from shared.kafka import headers as ce
from shared.kafka.security import client_security

from . import schemas
from .progress import Progress
from .runner import topics


async def _partitions(bootstrap: str, names: list[str], key: bytes) -> list[TopicPartition]:
    """The partition ``key`` hashes to on each topic (the producers' default partitioner)."""
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitioner = DefaultPartitioner()
    out = []
    for d in described:
        known = sorted(p["partition"] for p in d.get("partitions") or ())
        if known and not d.get("error_code"):
            out.append(TopicPartition(d["topic"], partitioner(key, known, known)))
    return out


async def read_history(s: CoordinationSettings, patient_id: str, until: datetime | None,
                       progress: Progress | None = None) -> list[Envelope]:
    """The patient's events recorded by ``until`` (all without it), each once, in recorded order
    and, within a stream, in sequence."""
    key = patient_id.encode()
    consumer = AIOKafkaConsumer(**client_security(), bootstrap_servers=s.kafka_bootstrap_servers, group_id=None,
                                enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    found: dict[str, Envelope] = {}
    try:
        tps = await _partitions(s.kafka_bootstrap_servers, topics(s), key)
        if not tps:  # no topic yet: no history
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        if progress is not None:
            progress.total = sum(ends.values())
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            for records in (await consumer.getmany(*pending, timeout_ms=500, max_records=5000)).values():
                for r in records:
                    if r.key == key and (env := _decoded(r.value, r.headers)) is not None and (
                            until is None or (env.recorded_at or env.time) <= until):
                        found[str(env.id)] = env
                if progress is not None:
                    progress.add(len(records))
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return sorted(found.values(), key=lambda e: (e.recorded_at or e.time, e.source, e.stream_id, e.stream_version))


def _decoded(value: bytes | None, headers: Any) -> Envelope | None:
    try:
        return ce.decode(value, headers)
    except ce.EnvelopeDecodeError:
        return None  # poison: the live projection dead-lettered it


def readable(events: list[Envelope]) -> list[Envelope]:
    """What the projection can apply (the rest was dead-lettered live, and is here left out)."""
    registry = handlers.registry()
    out = []
    for env in events:
        try:
            read(env, registry)
        except Exception:  # refused by a model (pydantic) or unplaceable: poison, as live
            continue
        out.append(env)
    return out


async def _printed(conn: asyncpg.Connection, patient_id: str, as_of: datetime) -> dict[str, Any]:
    rows = await conn.fetch("SELECT occurred_at, recorded_at, service, type, stream_id, sequence, summary "
                            "FROM timeline_entries WHERE patient_id = $1 ORDER BY occurred_at, recorded_at, event_id",
                            patient_id)
    state = await conn.fetchval("SELECT state FROM patient_summaries WHERE patient_id = $1", patient_id)
    flags = [flag_json(from_row(r)) for r in await conn.fetch(
        "SELECT * FROM flags WHERE patient_id = $1 ORDER BY raised_at, flag_id", patient_id)]
    summary = (summary_view(PatientSummary.model_validate_json(state), as_of, [f for f in flags
                                                                               if f["status"] != "resolved"])
               if state is not None else None)
    return {"patient_id": patient_id, "as_of": as_of, "timeline": [dict(r) for r in rows], "summary": summary,
            "flags": flags}


async def replay_patient(s: CoordinationSettings, patient_id: str, until: datetime | None, *, keep: bool = False,
                         progress: Progress | None = None) -> tuple[dict[str, Any], str]:
    """(what coordination shows of the patient as of ``until``, the scratch schema's name)."""
    as_of = until or datetime.now(UTC)
    clock: Callable[[], datetime] = lambda: as_of  # noqa: E731
    events = readable(await read_history(s, patient_id, until, progress))
    scratch = f"{s.database_schema}_patient_{time.strftime('%Y%m%d%H%M%S')}{uuid.uuid4().hex[:4]}"[:63]
    pool = await create_pool(s.database_url, scratch, 2)
    try:
        await migrate_read_models(pool)
        async with pool.acquire() as conn:
            await schemas.copy_acknowledgements(conn, s.database_schema, scratch, patient_id)
            await conn.execute("DELETE FROM flag_acknowledgements WHERE acknowledged_at > $1", as_of)
            flagging = Flagging(PostgresEventStore(pool), s.topic(kind="flags"), rules_config(s), clock=clock)
            async with conn.transaction():
                projection = CoordinationProjection(handlers.registry(), flagging)
                await projection.begin(conn)
                await projection.apply(conn, events)
            shown = await _printed(conn, patient_id, as_of)
    finally:
        if not keep:
            await schemas.drop_schema(pool, scratch)
        await pool.close()
    return shown, scratch
