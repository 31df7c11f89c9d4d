"""The export's background task: takes a job from the table, writes its NDJSON parts batch by
batch (each batch with its access-log rows, in one transaction), and marks it done.

Jobs are claimed with a lease (``FOR UPDATE SKIP LOCKED``), renewed every batch: several
instances share the queue, and a job whose worker stopped is taken again once its lease lapses
(at once after a clean stop, which hands the job back). A run that starts over deletes what the
earlier one wrote, so the output is never written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from services.coordination.registry.api import clinic_measures
from shared.access_log import INSERT as ACCESS_LOG_INSERT
from shared.auth import Principal

from . import jobs
from .bundle import organization, patient_resources
from .export import Wanted, ndjson_by_type
from .measure_reports import MEASURE_REPORT, default_months, measure_report_resources
from .reads import clinic_patients, records

log = logging.getLogger(__name__)

RENEW = """
UPDATE fhir_export_jobs SET lease_until = now() + make_interval(secs => $2), patients_done = $3
WHERE job_id = $1 AND status = 'running' RETURNING job_id
"""


class Cancelled(Exception):
    """The job was deleted (the client cancelled it) while it ran."""


@dataclass
class Part:
    count: int = 0
    text: list[str] = field(default_factory=list)
    patients: list[tuple[str, str]] = field(default_factory=list)  # (clinic, patient)


async def log_accesses(conn: asyncpg.Connection, principal: Principal, patients: Sequence[tuple[str, str]],
                       action: str) -> None:
    """One access-log row per patient read (as :func:`shared.access_log.record_access` writes)."""
    roles, clinics = sorted(r.value for r in principal.roles), sorted(principal.clinic_ids)
    await conn.executemany(ACCESS_LOG_INSERT, [
        (principal.staff_id, roles, clinics, clinic, patient, action, "allowed", None, None)
        for clinic, patient in patients])


class ExportWorker:
    def __init__(self, pool: asyncpg.Pool, *, poll_seconds: float = 0.5, batch: int = 50,
                 lease_seconds: float = 60.0) -> None:
        self.pool = pool
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.lease_seconds = lease_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                job = await jobs.claim(self.pool, self.lease_seconds)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("fhir export: claiming a job failed (%s)", type(exc).__name__)
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
                continue
            await self._run(job, stop)

    async def _run(self, job: jobs.Job, stop: asyncio.Event) -> None:
        try:
            done = await self.export(job, stop)
        except Cancelled:
            return
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            # The database went away: not the job's fault. Its lease lapses and a worker takes it again.
            log.warning("fhir export %s interrupted (%s)", job.job_id, type(exc).__name__)
            return
        except Exception as exc:  # the job fails, the worker goes on; the log names the class only (no data)
            log.error("fhir export %s failed (%s)", job.job_id, type(exc).__name__)
            await self.pool.execute("UPDATE fhir_export_jobs SET status = 'failed', error = $2, completed_at = now() "
                                    "WHERE job_id = $1", job.job_id, "the export failed; start a new one")
            return
        if not done:  # stopping: hand the job back for the next start (or another instance)
            await self.pool.execute("UPDATE fhir_export_jobs SET status = 'accepted', lease_until = NULL "
                                    "WHERE job_id = $1 AND status = 'running'", job.job_id)

    async def export(self, job: jobs.Job, stop: asyncio.Event) -> bool:
        """Write the job's output; False when ``stop`` came first."""
        wanted = Wanted(job.types, job.since)
        patients = await clinic_patients(self.pool, job.clinics)
        await self.pool.execute("UPDATE fhir_export_jobs SET patients_total = $2 WHERE job_id = $1",
                                job.job_id, len(patients))
        ids = list(patients)
        part = 0
        for start in range(0, len(ids), self.batch):
            if stop.is_set():
                return False
            batch = {pid: patients[pid] for pid in ids[start:start + self.batch]}
            async with self.pool.acquire() as conn, conn.transaction():
                if await conn.fetchval(RENEW, job.job_id, self.lease_seconds, start + len(batch)) is None:
                    raise Cancelled
                parts: dict[str, Part] = defaultdict(Part)
                for record in await records(conn, batch):
                    for kind, (n, text) in ndjson_by_type(patient_resources(record), wanted).items():
                        parts[kind].count += n
                        parts[kind].text.append(text)
                        parts[kind].patients.append((record.clinic_id, record.patient_id))
                await self._write(conn, job, part, parts)
                await log_accesses(conn, job.principal, [(c, p) for p, c in batch.items()],
                                   f"FHIR bulk export {job.job_id}")
            part += 1
        clinic_wide = [organization(c) for c in job.clinics]
        if wanted.wants(MEASURE_REPORT) and job.transaction_time is not None:
            # The twelve months up to the run's, as recorded by its start (the manifest's transactionTime).
            result = await clinic_measures(self.pool, job.clinics, job.transaction_time,
                                           *default_months(job.transaction_time))
            clinic_wide += measure_report_resources(result)
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(RENEW, job.job_id, self.lease_seconds, len(ids)) is None:
                raise Cancelled
            # No patient in these files: nothing for the access log.
            await self._write(conn, job, part, {kind: Part(n, [text]) for kind, (n, text)
                                                in ndjson_by_type(clinic_wide, wanted).items()})
            await conn.execute("UPDATE fhir_export_jobs SET status = 'completed', completed_at = now(), "
                               "lease_until = NULL WHERE job_id = $1", job.job_id)
        return True

    @staticmethod
    async def _write(conn: asyncpg.Connection, job: jobs.Job, part: int, parts: dict[str, Part]) -> None:
        for kind, p in parts.items():
            await conn.execute(jobs.INSERT_PART, job.job_id, kind, part, p.count, "".join(p.text),
                               [pid for _, pid in p.patients], [c for c, _ in p.patients])
