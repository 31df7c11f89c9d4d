"""The registry's reads: each clinic's patients' histories from the timeline, as recorded by a
moment (knowledge time, as the auditors' as-of reads), and what the caseload adds (who enrolled
the patient, the open flags). The timeline's coded data holds every field the registry reads,
so no table of its own is needed; :mod:`.record` and :mod:`.measures` do the rest."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import asyncpg

from services.coordination.rules.history import HistoryEvent

from .record import PAYLOAD_FIELDS, CareRecord, care_record

READ_TYPES = ["PatientEnrolled", "AssessmentRecorded", "SessionCompleted", "EscalationDecided",
              "CaseConferenceHeld", "MedicationStarted", "MedicationDiscontinued"]
"""The events :mod:`.record` reads; the rest of a timeline is not fetched."""


def _payload_sql() -> str:
    """Of each event's coded data only what :mod:`.record` reads (``PAYLOAD_FIELDS``): a tenth
    of the bytes to send and to parse (a medication's formulary snapshot is most of a row)."""
    def build(fields: tuple[str, ...]) -> str:
        return "jsonb_build_object(" + ", ".join(f"'{k}', t.data->'{k}'" for k in fields) + ")"

    cases = " ".join(f"WHEN '{event}' THEN {build(fields)}" for event, fields in PAYLOAD_FIELDS.items())
    return f"CASE t.type {cases} END::text"


HISTORIES = f"""
SELECT t.patient_id, t.clinic_id, t.event_id::text, t.service, t.type, t.occurred_at, t.recorded_at, t.stream_id,
       {_payload_sql()}
FROM patient_directory d JOIN timeline_entries t ON t.patient_id = d.patient_id
WHERE d.clinic_id = ANY($1::text[]) AND NOT d.identity_erased AND t.recorded_at <= $2 AND t.type = ANY($3::text[])
"""
"""One query for the clinics' whole timelines (a hash join over one scan of the timeline; a
patient's order is restored by ``known_as_of``, so no sort here)."""

NOTHING: Mapping[str, Any] = MappingProxyType({})


ENROLLED_BY = """
SELECT patient_id, envelope->>'actor' AS actor FROM audit_events
WHERE patient_id = ANY($1::text[]) AND service = 'assessment' AND envelope->>'type' LIKE '%.PatientEnrolled.%'
"""

OPEN_FLAGS = """
SELECT patient_id, severity, count(*) AS n FROM flags
WHERE patient_id = ANY($1::text[]) AND status <> 'resolved' GROUP BY patient_id, severity
"""


async def care_records(pool: asyncpg.Pool, clinics: Sequence[str], as_of: datetime) -> list[CareRecord]:
    """The clinics' patients as known at ``as_of`` (a patient whose identity was erased is no
    longer the clinic's to count)."""
    return records_of(await histories(pool, clinics, as_of), as_of)


Histories = dict[tuple[str, str], list[HistoryEvent]]
"""(patient, clinic) → the events :mod:`.record` reads, recorded by the moment asked for."""


async def histories(pool: asyncpg.Pool, clinics: Sequence[str], as_of: datetime) -> Histories:
    """The read: the clinics' patients' histories from the timeline."""
    found: Histories = defaultdict(list)
    if not clinics:
        return found
    loads = json.loads
    for patient, clinic, event_id, service, name, occurred, recorded, stream, payload in await pool.fetch(
            HISTORIES, list(clinics), as_of, READ_TYPES):
        found[(patient, clinic)].append(HistoryEvent(event_id, service, name, occurred, recorded, stream,
                                                     NOTHING if payload is None else loads(payload)))
    return found


def records_of(found: Histories, as_of: datetime) -> list[CareRecord]:
    """The pure part: each history read into a care record (none before care started)."""
    records = (care_record(patient, clinic, events, as_of) for (patient, clinic), events in found.items())
    return [r for r in records if r is not None]


async def enrolled_by(pool: asyncpg.Pool, patient_ids: Sequence[str]) -> dict[str, str | None]:
    """Each patient's care manager: the staff member who enrolled them."""
    rows = await pool.fetch(ENROLLED_BY, list(patient_ids))
    return {r["patient_id"]: r["actor"] for r in rows}


async def open_flags(pool: asyncpg.Pool, patient_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await pool.fetch(OPEN_FLAGS, list(patient_ids)):
        out[r["patient_id"]][r["severity"]] = int(r["n"])
    return out
