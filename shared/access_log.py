"""Who read which patient's data, for the auditors.

Every read of patient data by a person writes one row: staff id, roles, clinic, patient,
what was read and when. Rows are only ever inserted.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request

from shared.auth import Principal, Role, require_roles
from shared.db import Migration, migrate

MIGRATIONS = [
    Migration(
        "001_access_log",
        """
        CREATE TABLE access_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            staff_id text NOT NULL,
            roles text[] NOT NULL,
            clinic_id text NOT NULL,
            patient_id text NOT NULL,
            action text NOT NULL
        );
        CREATE INDEX access_log_patient ON access_log (patient_id, at);
        """,
    )
]


async def migrate_access_log(pool: asyncpg.Pool) -> None:
    await migrate(pool, "access_log", MIGRATIONS)


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


def access_log_router() -> APIRouter:
    """``GET /v1/patients/{patient_id}/access-log``: who read this patient's data here, for
    auditors and admins of the patient's clinic. Reading it is itself recorded."""
    from shared.service import patient_clinic, runtime_of

    router = APIRouter(prefix="/v1/patients", tags=["audit"])

    @router.get("/{patient_id}/access-log", summary="Reads of this patient's data in this service")
    async def access_log(patient_id: str, request: Request,
                         principal: Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]
                         ) -> list[dict[str, object]]:
        runtime = runtime_of(request)
        clinic = await patient_clinic(request, principal, patient_id)
        await record_access(runtime.pool, principal, clinic, patient_id, "read access log")
        return await accesses(runtime.pool, patient_id)

    return router
