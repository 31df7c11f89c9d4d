"""Who read which patient's data, and who was refused, for the auditors.

Every read of patient data by a person writes one row: staff id, roles, the caller's clinics,
the patient's clinic, patient, what was read and when (``outcome`` 'allowed'). Every refused
attempt on a patient path (401, 403, 404: :mod:`shared.access_audit`) writes one too
(``outcome`` 'refused', the HTTP status, the route template; no staff id when the token did not
verify, no clinic when the patient is unknown). Rows are only ever inserted: a trigger refuses
UPDATE and DELETE (kernel_0004). Nothing else about the patient is kept here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.auth import Principal

INSERT = """
INSERT INTO access_log (staff_id, roles, caller_clinics, clinic_id, patient_id, action, outcome, status, endpoint)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


async def record_access(pool: asyncpg.Pool | asyncpg.Connection, principal: Principal,
                        clinic_id: str, patient_id: str, action: str) -> None:
    await pool.execute(INSERT, principal.staff_id, sorted(r.value for r in principal.roles),
                       sorted(principal.clinic_ids), clinic_id, patient_id, action, "allowed", None, None)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused attempt on a patient path; ``principal`` None when the token did not verify."""

    principal: Principal | None
    clinic_id: str | None  # the patient's, when the patient exists
    patient_id: str
    endpoint: str  # "GET /v1/patients/{patient_id}/timeline": method and route template
    status: int


async def record_refusal(pool: asyncpg.Pool | asyncpg.Connection, refusal: Refusal) -> None:
    p = refusal.principal
    await pool.execute(INSERT, p.staff_id if p else None, sorted(r.value for r in p.roles) if p else [],
                       sorted(p.clinic_ids) if p else None, refusal.clinic_id, refusal.patient_id,
                       "refused request", "refused", refusal.status, refusal.endpoint)


async def accesses(pool: asyncpg.Pool, patient_id: str) -> list[dict[str, object]]:
    rows = await pool.fetch("SELECT at, staff_id, roles, clinic_id, action, outcome, status, endpoint "
                            "FROM access_log WHERE patient_id = $1 ORDER BY id", patient_id)
    return [dict(r) for r in rows]


@dataclass(frozen=True, slots=True)
class AccessQuery:
    """``GET /v1/audit/access``'s filters (all optional; ``to`` exclusive)."""

    patient_id: str | None = None
    actor: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None
    limit: int = 1000


# An auditor sees the rows about their clinics' patients, and refusals about unknown patients
# by callers of their clinics. Not the refusals of their staff about another clinic's patient:
# that row names the patient's clinic, which would tell that the patient exists.
SELECT = """
SELECT id, at, staff_id, roles, caller_clinics, clinic_id, patient_id, action, outcome, status, endpoint
FROM access_log
WHERE (clinic_id = ANY($1::text[]) OR (clinic_id IS NULL AND caller_clinics && $1::text[]))
  AND ($2::text IS NULL OR patient_id = $2) AND ($3::text IS NULL OR staff_id = $3)
  AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
ORDER BY at, id LIMIT $6
"""


async def access_entries(pool: asyncpg.Pool, clinics: Collection[str], query: AccessQuery
                         ) -> list[dict[str, Any]]:
    """Up to ``query.limit`` + 1 rows (the extra one says there are more), oldest first."""
    rows = await pool.fetch(SELECT, sorted(clinics), query.patient_id, query.actor, query.at_from, query.at_to,
                            query.limit + 1)
    return [dict(r) for r in rows]
