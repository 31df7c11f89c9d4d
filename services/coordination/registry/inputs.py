"""The registry's reads: each clinic's patients' histories from the timeline, as recorded by a
moment (knowledge time, as the auditors' as-of reads), and what the caseload adds (who enrolled
the patient, the open flags). The timeline's coded data holds every field the registry reads,
so no table of its own is needed; :mod:`.record` and :mod:`.measures` do the rest."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.coordination.rules.history import HistoryEvent

from .record import CareRecord, care_record

READ_TYPES = ["PatientEnrolled", "AssessmentRecorded", "SessionCompleted", "EscalationDecided",
              "CaseConferenceHeld", "MedicationStarted", "MedicationDiscontinued"]
"""The events :mod:`.record` reads; the rest of a timeline is not fetched."""

HISTORIES = """
SELECT t.patient_id, t.clinic_id, t.event_id, t.service, t.type, t.occurred_at, t.recorded_at, t.stream_id, t.data
FROM patient_directory d JOIN timeline_entries t ON t.patient_id = d.patient_id
WHERE d.clinic_id = ANY($1::text[]) AND NOT d.identity_erased AND t.recorded_at <= $2 AND t.type = ANY($3::text[])
"""

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
    if not clinics:
        return []
    histories: dict[tuple[str, str], list[HistoryEvent]] = defaultdict(list)
    for row in await pool.fetch(HISTORIES, list(clinics), as_of, READ_TYPES):
        data = row["data"]
        histories[(row["patient_id"], row["clinic_id"])].append(HistoryEvent(
            event_id=str(row["event_id"]), service=row["service"], event_name=row["type"],
            occurred_at=row["occurred_at"], recorded_at=row["recorded_at"], stream_id=row["stream_id"],
            payload=json.loads(data) if isinstance(data, str) else data))
    records = (care_record(patient, clinic, events, as_of) for (patient, clinic), events in histories.items())
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
