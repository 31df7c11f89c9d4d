"""Patient directory: patient → clinic, for scoping every request to the caller's clinics.

A small projection of the assessment service's enrollment events that every other service
keeps in its own database, so no service calls another to learn where a patient belongs.
It matches events by service and event name, never by the versioned type string, so a new
payload version does not make it deaf; it reads the envelope's attributes (subject, clinic,
time) and, for a transfer, one payload field by name: the shared library knows no service's
domain classes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

from shared.envelope import Envelope, UnknownEventType, parse_type
from shared.projection import ProjectionRunner

if TYPE_CHECKING:
    from shared.service import Runtime

SOURCE_SERVICE = "assessment"
ENROLLED = "PatientEnrolled"
ERASED = "PatientIdentityErased"
TRANSFERRED = "PatientTransferred"

async def add_patient(conn: asyncpg.Connection | asyncpg.Pool, patient_id: str, clinic_id: str,
                      enrolled_at: object) -> None:
    await conn.execute(
        "INSERT INTO patient_directory (patient_id, clinic_id, enrolled_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (patient_id) DO NOTHING", patient_id, clinic_id, enrolled_at)


class DirectoryProjection:
    """Projection for :class:`shared.projection.ProjectionRunner` on the assessment topic."""

    name = "patient_directory"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            name = _assessment_event(env)
            if name == ENROLLED:
                await add_patient(conn, env.subject, env.clinic_id, env.time)
            elif name == ERASED:
                await conn.execute("UPDATE patient_directory SET identity_erased = true "
                                   "WHERE patient_id = $1", env.subject)
            elif name == TRANSFERRED:
                await conn.execute("UPDATE patient_directory SET clinic_id = $2 WHERE patient_id = $1",
                                   env.subject, env.payload["to_clinic_id"])


def _assessment_event(env: Envelope) -> str | None:
    """The event name of an assessment event, whatever its version; None for any other
    (another service's, or a type that is not a carecoord one: not the directory's)."""
    try:
        service, name, _ = parse_type(env.type)
    except UnknownEventType:
        return None
    return name if service == SOURCE_SERVICE else None


class PatientDirectory:
    def __init__(self, pool: asyncpg.Pool, miss_wait_seconds: float = 1.0) -> None:
        self.pool = pool
        self.miss_wait_seconds = miss_wait_seconds

    async def clinic_of(self, patient_id: str) -> str | None:
        """The patient's clinic, or None when unknown.

        A patient enrolled a moment ago may not have reached this service's directory yet;
        an unknown id is asked again for a short while before it is called unknown, so a
        client that enrolls and then writes at once is not told the patient does not exist.
        """
        deadline = time.monotonic() + self.miss_wait_seconds
        while True:
            clinic = await self.pool.fetchval(
                "SELECT clinic_id FROM patient_directory WHERE patient_id = $1", patient_id)
            if clinic is not None or time.monotonic() >= deadline:
                return clinic
            await asyncio.sleep(0.05)


async def directory_runner(runtime: Runtime) -> tuple[PatientDirectory, ProjectionRunner]:
    """The directory of a service other than assessment: its table, kept current by a
    projection runner on the assessment topic (started by the service's lifespan, which
    has migrated the database)."""
    settings = runtime.settings
    runner = ProjectionRunner(
        pool=runtime.pool, bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.topic_namespace}{settings.service_name}.patient-directory",
        topics=[settings.topic("assessment")], projection=DirectoryProjection(),
        partitions=settings.topic_partitions, replication=settings.topic_replication_factor,
        min_insync=settings.topic_min_insync_replicas, trace_links=settings.telemetry_exporter != "off")
    runtime.consumers.append(runner)  # /ready reports it
    return PatientDirectory(runtime.pool), runner
