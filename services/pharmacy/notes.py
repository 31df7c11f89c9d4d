"""Notes beside the codes of a pharmacy event: kept in this service's database only.

An event carries a code (a reason, an effect, an override, an ICD-10 indication); what a user
wants to add in words is stored here, keyed by the event's id, in the append's own transaction,
so a note exists exactly when its event does. Events are kept for ever on Kafka; notes are
deleted when the patient's identity is erased (the patient directory learns it from
assessment's topic and calls :func:`erase` in the same transaction). Table:
``migrations/versions/pharmacy_0001_notes.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from shared.handler import Hook, Outcome

FIELDS = ("indication_note", "override_reason_note", "reason_note", "effect_note")


def keep(patient_id: str, medication_id: str, notes: Mapping[str, str | None]) -> Hook | None:
    """A hook writing ``notes`` (field → text; blank and absent ones skipped) against the
    command's event, or None when there is nothing to keep."""
    given = {field: text.strip() for field, text in notes.items() if text and text.strip()}
    if not given:
        return None

    async def write(conn: Any, outcome: Outcome[Any]) -> None:
        if conn is None or not outcome.result.events:  # the in-memory store keeps no notes
            return
        event_id = outcome.result.events[0].id
        await conn.executemany(
            "INSERT INTO medication_note (event_id, field, patient_id, medication_id, note) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT ON CONSTRAINT medication_note_pkey DO NOTHING",
            [(event_id, field, patient_id, medication_id, text) for field, text in given.items()])

    return write


async def of_course(pool: asyncpg.Pool, patient_id: str, medication_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT event_id, field, note, recorded_at FROM medication_note "
        "WHERE patient_id = $1 AND medication_id = $2 ORDER BY recorded_at, event_id, field",
        patient_id, medication_id)
    return [{"event_id": str(r["event_id"]), "field": r["field"], "note": r["note"],
             "recorded_at": r["recorded_at"]} for r in rows]


async def erase(conn: asyncpg.Connection, patient_id: str) -> None:
    """Everything this service holds in words about the patient: the notes, and the stored
    answers to their commands (whose request fingerprints hash the notes' text)."""
    await conn.execute("DELETE FROM medication_note WHERE patient_id = $1", patient_id)
    await conn.execute("DELETE FROM idempotency_keys WHERE subject = $1", patient_id)
