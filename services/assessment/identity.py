"""Identity data and free-text notes: kept in this service's database only, never in an
event, so erasure can remove them for good while the pseudonymous history stays. Tables:
services/assessment/migrations/versions/."""

from __future__ import annotations

from datetime import date

import asyncpg


async def store_identity(conn: asyncpg.Connection, patient_id: str, clinic_id: str,
                         display_name: str, birth_date: date, external_ref: str | None) -> None:
    await conn.execute(
        "INSERT INTO patient_identity VALUES ($1, $2, $3, $4, $5)",
        patient_id, clinic_id, display_name, birth_date, external_ref)


async def store_note(conn: asyncpg.Connection, life_event_id: str, patient_id: str, note: str) -> None:
    await conn.execute("INSERT INTO life_event_note VALUES ($1, $2, $3)", life_event_id, patient_id, note)


async def fetch_identity(pool: asyncpg.Pool, patient_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM patient_identity WHERE patient_id = $1", patient_id)


async def notes_of(pool: asyncpg.Pool, patient_id: str) -> dict[str, str]:
    rows = await pool.fetch("SELECT life_event_id, note FROM life_event_note WHERE patient_id = $1",
                            patient_id)
    return {r["life_event_id"]: r["note"] for r in rows}


async def erase_identity(conn: asyncpg.Connection, patient_id: str) -> None:
    """Remove every identifying trace this service holds: the identity row, free-text
    notes, and stored idempotent responses (their request fingerprints hash identity)."""
    await conn.execute("DELETE FROM patient_identity WHERE patient_id = $1", patient_id)
    await conn.execute("DELETE FROM life_event_note WHERE patient_id = $1", patient_id)
    await conn.execute("DELETE FROM idempotency_keys WHERE subject = $1", patient_id)
