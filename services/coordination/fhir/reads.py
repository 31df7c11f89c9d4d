"""The I/O of the export: patients' events as published (``audit_events``) and their flags, read
into :class:`~.record.PatientRecord`\\ s."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence

import asyncpg
from pydantic import ValidationError

from services.coordination.audit.published import envelope_of
from services.coordination.flagging.model import StoredFlag, from_row
from services.coordination.handlers import registry
from services.coordination.projection.facts import read
from shared.envelope import EventRegistry, UnknownEventType
from shared.errors import RuleViolation

from .record import PatientRecord, Source, record_of

EVENTS = "SELECT patient_id, envelope FROM audit_events WHERE patient_id = ANY($1::text[])"
FLAGS = "SELECT * FROM flags WHERE patient_id = ANY($1::text[])"
CLINIC_PATIENTS = """
SELECT patient_id, clinic_id FROM patient_summaries
WHERE clinic_id = ANY($1::text[]) AND enrolled_at IS NOT NULL ORDER BY clinic_id, patient_id
"""


def source_of(doc: Mapping[str, object], own: EventRegistry) -> Source | None:
    """An event as the projection read it; one it could not read was never projected: skipped."""
    env = envelope_of(doc, None)
    try:
        return Source(read(env, own), env.actor, dict(env.payload))
    except (ValidationError, RuleViolation, UnknownEventType):
        return None


async def records(conn: asyncpg.Pool | asyncpg.Connection, patients: Mapping[str, str]) -> list[PatientRecord]:
    """The records of ``patients`` (id → clinic), in the order given."""
    ids = list(patients)
    sources: dict[str, list[Source]] = defaultdict(list)
    own = registry()
    for row in await conn.fetch(EVENTS, ids):
        doc = row["envelope"]
        source = source_of(json.loads(doc) if isinstance(doc, str) else doc, own)
        if source is not None:
            sources[row["patient_id"]].append(source)
    flags: dict[str, list[StoredFlag]] = defaultdict(list)
    for row in await conn.fetch(FLAGS, ids):
        flags[row["patient_id"]].append(from_row(row))
    return [record_of(pid, clinic, sources[pid], flags[pid]) for pid, clinic in patients.items()]


async def enrolled(conn: asyncpg.Pool | asyncpg.Connection, patient_id: str) -> bool:
    """Whether the projection has seen the enrolment (until then the patient is unknown here)."""
    return bool(await conn.fetchval(
        "SELECT true FROM patient_summaries WHERE patient_id = $1 AND enrolled_at IS NOT NULL", patient_id))


async def clinic_patients(conn: asyncpg.Pool | asyncpg.Connection, clinics: Sequence[str]) -> dict[str, str]:
    """Every enrolled patient of ``clinics`` (id → clinic), in a stable order."""
    return {r["patient_id"]: r["clinic_id"] for r in await conn.fetch(CLINIC_PATIENTS, list(clinics))}
