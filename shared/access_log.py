"""Who read which patient's data, for the auditors.

Every read of patient data by a person writes one row: staff id, roles, clinic, patient,
what was read and when. Rows are only ever inserted.
"""

from __future__ import annotations

import asyncpg

from shared.auth import Principal


async def record_access(pool: asyncpg.Pool | asyncpg.Connection, principal: Principal,
                        clinic_id: str, patient_id: str, action: str) -> None:
    await pool.execute(
        "INSERT INTO access_log (staff_id, roles, clinic_id, patient_id, action) "
        "VALUES ($1, $2, $3, $4, $5)",
        principal.staff_id, sorted(r.value for r in principal.roles), clinic_id, patient_id, action)


async def accesses(pool: asyncpg.Pool, patient_id: str) -> list[dict[str, object]]:
    rows = await pool.fetch("SELECT at, staff_id, roles, clinic_id, action FROM access_log "
                            "WHERE patient_id = $1 ORDER BY id", patient_id)
    return [dict(r) for r in rows]
