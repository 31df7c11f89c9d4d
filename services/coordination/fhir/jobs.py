"""Export jobs and their output in PostgreSQL (``fhir_export_jobs``, ``fhir_export_files``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.auth import Principal, Role

INSERT_JOB = """
INSERT INTO fhir_export_jobs (job_id, staff_id, roles, caller_clinics, clinics, types, since, request_url, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'accepted')
"""

# The oldest job not taken, or taken by a worker whose lease lapsed (it stopped or died): the
# run starts over, so its earlier parts are deleted by the caller.
CLAIM = """
UPDATE fhir_export_jobs SET status = 'running', transaction_time = now(), patients_done = 0,
       lease_until = now() + make_interval(secs => $1)
WHERE job_id = (SELECT job_id FROM fhir_export_jobs
                WHERE status = 'accepted' OR (status = 'running' AND lease_until < now())
                ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING *
"""

INSERT_PART = """
INSERT INTO fhir_export_files (job_id, resource_type, part, resource_count, content, patients, clinics)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


@dataclass(frozen=True, slots=True)
class Job:
    job_id: uuid.UUID
    staff_id: str
    roles: tuple[str, ...]
    caller_clinics: tuple[str, ...]
    clinics: tuple[str, ...]
    types: tuple[str, ...]
    since: datetime | None
    request_url: str
    status: str
    transaction_time: datetime | None
    patients_total: int | None
    patients_done: int
    error: str | None

    @property
    def principal(self) -> Principal:
        """Who asked: the export reads (and logs) as that person."""
        return Principal(self.staff_id, Role.parse_known(list(self.roles)), frozenset(self.caller_clinics))


def job_of(row: Any) -> Job:
    return Job(job_id=row["job_id"], staff_id=row["staff_id"], roles=tuple(row["roles"]),
               caller_clinics=tuple(row["caller_clinics"]), clinics=tuple(row["clinics"]), types=tuple(row["types"]),
               since=row["since"], request_url=row["request_url"], status=row["status"],
               transaction_time=row["transaction_time"], patients_total=row["patients_total"],
               patients_done=row["patients_done"], error=row["error"])


async def create(pool: asyncpg.Pool, principal: Principal, clinics: Sequence[str], types: Sequence[str],
                 since: datetime | None, request_url: str) -> uuid.UUID:
    job_id = uuid.uuid4()
    await pool.execute(INSERT_JOB, job_id, principal.staff_id, sorted(r.value for r in principal.roles),
                       sorted(principal.clinic_ids), list(clinics), list(types), since, request_url)
    return job_id


async def load(pool: asyncpg.Pool, job_id: uuid.UUID) -> Job | None:
    row = await pool.fetchrow("SELECT * FROM fhir_export_jobs WHERE job_id = $1", job_id)
    return job_of(row) if row else None


async def delete(pool: asyncpg.Pool, job_id: uuid.UUID) -> None:
    await pool.execute("DELETE FROM fhir_export_jobs WHERE job_id = $1", job_id)


async def claim(pool: asyncpg.Pool, lease_seconds: float) -> Job | None:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(CLAIM, lease_seconds)
        if row is None:
            return None
        await conn.execute("DELETE FROM fhir_export_files WHERE job_id = $1", row["job_id"])
        return job_of(row)


async def counts(pool: asyncpg.Pool, job_id: uuid.UUID) -> dict[str, int]:
    rows = await pool.fetch("SELECT resource_type, sum(resource_count)::int AS n FROM fhir_export_files "
                            "WHERE job_id = $1 GROUP BY resource_type", job_id)
    return {r["resource_type"]: r["n"] for r in rows}


async def file_patients(pool: asyncpg.Pool, job_id: uuid.UUID, resource_type: str) -> list[tuple[str, str]] | None:
    """(clinic, patient) of every patient in the file, each once; None when the job wrote no such file."""
    rows = await pool.fetch("SELECT patients, clinics FROM fhir_export_files WHERE job_id = $1 AND resource_type = $2",
                            job_id, resource_type)
    if not rows:
        return None
    return list(dict.fromkeys((c, p) for r in rows for p, c in zip(r["patients"], r["clinics"], strict=True)))


async def file_parts(pool: asyncpg.Pool, job_id: uuid.UUID, resource_type: str) -> AsyncIterator[bytes]:
    """The file's content part by part (one part in memory at a time)."""
    async with pool.acquire() as conn:
        parts = await conn.fetch("SELECT part FROM fhir_export_files WHERE job_id = $1 AND resource_type = $2 "
                                 "ORDER BY part", job_id, resource_type)
        for p in parts:
            content = await conn.fetchval("SELECT content FROM fhir_export_files WHERE job_id = $1 AND "
                                          "resource_type = $2 AND part = $3", job_id, resource_type, p["part"])
            yield str(content).encode()
