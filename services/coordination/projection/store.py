"""The coordination projection: the shell around :func:`batch.project`.

It runs inside the projection runner's transaction (``apply(conn, events)``), so the
timeline rows, the summaries, the patient directory and the runner's tracking rows commit
together or not at all. One round trip each: lock, load, insert, upsert.

Per-patient serial processing with several instances: the batch takes a transaction-scoped
advisory lock per patient (sorted, so two batches cannot deadlock) before it reads any
summary. Instances in one consumer group may own partitions of different topics that carry
the same patient (the default assignor spreads partitions round-robin), and during a
rebalance two instances can briefly hold the same partition; the lock makes the second wait
until the first commits, and then read what it wrote. A range-style assignor would only
help while every topic has the same partition count; the lock holds regardless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import asyncpg

from services.coordination.audit.published import keep_published
from services.coordination.flagging.evaluation import Flagging, Trigger
from services.coordination.flagging.history import feeds_rules
from services.coordination.projection.batch import TimelineRow, project
from services.coordination.projection.facts import Fact, read
from services.coordination.projection.inputs import PatientIdentityErased
from services.coordination.projection.state import PatientSummary
from shared.directory import DirectoryProjection
from shared.envelope import Envelope, EventRegistry

LOCK_NAMESPACE = b"carecoord.coordination.patient:"

INSERT_TIMELINE = """
INSERT INTO timeline_entries (event_id, patient_id, clinic_id, occurred_at, recorded_at, service, type,
                              stream_id, sequence, summary, data)
SELECT e, p, c, o, r, sv, t, st, q, sm, d::jsonb
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[],
            $8::text[], $9::bigint[], $10::text[], $11::text[]) AS u(e, p, c, o, r, sv, t, st, q, sm, d)
"""

UPSERT_SUMMARIES = """
INSERT INTO patient_summaries (patient_id, clinic_id, enrolled_at, event_count, last_event_at, state)
SELECT p, c, e, n, l, s::jsonb
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::timestamptz[], $6::text[])
     AS u(p, c, e, n, l, s)
ON CONFLICT ON CONSTRAINT patient_summaries_pkey DO UPDATE SET
    clinic_id = EXCLUDED.clinic_id, enrolled_at = EXCLUDED.enrolled_at, event_count = EXCLUDED.event_count,
    last_event_at = EXCLUDED.last_event_at, state = EXCLUDED.state
"""


def patient_lock_key(patient_id: str) -> int:
    """The advisory lock key of one patient; anything else that rewrites a patient's
    coordination state (the rules' tick, say) takes the same one."""
    return int.from_bytes(hashlib.sha256(LOCK_NAMESPACE + patient_id.encode()).digest()[:8], "big", signed=True)


async def lock_patients(conn: asyncpg.Connection, patient_ids: Sequence[str]) -> None:
    """Hold every patient's lock until the transaction ends; taken in key order so that
    two batches sharing patients queue instead of deadlocking."""
    keys = sorted({patient_lock_key(p) for p in patient_ids})
    await conn.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k", keys)


async def load_summaries(conn: asyncpg.Connection, patient_ids: Sequence[str]) -> dict[str, PatientSummary]:
    rows = await conn.fetch("SELECT patient_id, state FROM patient_summaries WHERE patient_id = ANY($1::text[])",
                            list(patient_ids))
    return {r["patient_id"]: PatientSummary.model_validate_json(r["state"]) for r in rows}


async def insert_timeline(conn: asyncpg.Connection, rows: Sequence[TimelineRow]) -> None:
    await conn.execute(
        INSERT_TIMELINE, [r.event_id for r in rows], [r.patient_id for r in rows], [r.clinic_id for r in rows],
        [r.occurred_at for r in rows], [r.recorded_at for r in rows], [r.service for r in rows],
        [r.type for r in rows], [r.stream_id for r in rows], [r.sequence for r in rows],
        [r.summary for r in rows], [json.dumps(r.data, separators=(",", ":")) for r in rows])


async def save_summaries(conn: asyncpg.Connection, summaries: Sequence[PatientSummary]) -> None:
    await conn.execute(
        UPSERT_SUMMARIES, [s.patient_id for s in summaries], [s.clinic_id for s in summaries],
        [s.enrolled_at for s in summaries], [s.event_count for s in summaries],
        [s.last_event_at for s in summaries], [s.model_dump_json() for s in summaries])


async def erase_notes(conn: asyncpg.Connection, patient_ids: Sequence[str]) -> None:
    """An erased patient's acknowledgement notes go with their identity (free text may name them)."""
    if patient_ids:
        await conn.execute("UPDATE flag_acknowledgements SET note = NULL "
                           "WHERE patient_id = ANY($1::text[]) AND note IS NOT NULL", list(patient_ids))


def triggers(facts: Sequence[Fact], events: Sequence[Envelope], clinics: dict[str, str]) -> dict[str, Trigger]:
    """Per patient of the batch whose new events the rules read: the clinic, the earliest
    occurred_at among those events and the last of them (the cause of any flag event)."""
    out: dict[str, Trigger] = {}
    for f, env in zip(facts, events, strict=True):
        if not feeds_rules(env):
            continue
        before = out.get(f.patient_id)
        earliest = f.occurred_at if before is None or before.earliest is None else min(before.earliest,
                                                                                         f.occurred_at)
        out[f.patient_id] = Trigger(clinics[f.patient_id], earliest, env)
    return out


class CoordinationProjection:
    """Timeline, summaries and the patient directory, from all four topics; then, when
    ``flagging`` is given, the rules of every patient of the batch (flags, their change log and
    their events on the flags topic's outbox), all in the runner's one transaction.

    The directory (patient → clinic, for scoping reads and commands) is kept by this same
    projection rather than by a runner of its own, so a patient becomes visible to the API
    in the very transaction that gives them a timeline: never one without the other.
    """

    name = "coordination"

    def __init__(self, own_events: EventRegistry, flagging: Flagging | None = None) -> None:
        self.own_events = own_events
        self.directory = DirectoryProjection()
        self.flagging = flagging

    async def begin(self, conn: asyncpg.Connection) -> None:
        """First in the runner's transaction: the flag events are appended in it."""
        if self.flagging is not None:
            await self.flagging.begin(conn)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        facts = [read(env, self.own_events) for env in events]  # a bad one fails the batch: poison
        patients = sorted({f.patient_id for f in facts})
        await lock_patients(conn, patients)
        rows, changed = project(await load_summaries(conn, patients), facts)
        await insert_timeline(conn, rows)
        await keep_published(conn, events)  # as received, for the auditors' chain checks
        await save_summaries(conn, list(changed.values()))
        await self.directory.apply(conn, [env for env in events if env.service == "assessment"])
        await erase_notes(conn, sorted({f.patient_id for f in facts if isinstance(f.body, PatientIdentityErased)}))
        if self.flagging is not None:
            clinics = {pid: s.clinic_id for pid, s in changed.items()}
            await self.flagging.reevaluate(conn, triggers(facts, events, clinics))
