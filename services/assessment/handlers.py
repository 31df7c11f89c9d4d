"""Command handlers of the assessment service: one stream per patient record."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.assessment import identity as ident
from services.assessment.domain import (
    ASSESSMENT_EVENT_TYPES,
    INITIAL_STATE,
    EnrollPatient,
    ErasePatientIdentity,
    PatientRecord,
    RecordAssessment,
    RecordLifeEvent,
    UpdatePatientPreferences,
    decide,
    evolve,
)
from services.assessment.schemas import EnrollRequest
from shared.directory import add_patient
from shared.envelope import EventRegistry, Metadata
from shared.events import DomainEvent
from shared.handler import Decider, Hook, Outcome, execute
from shared.idempotency import chain
from shared.service import Runtime

SERVICE = "assessment"


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(SERVICE, *ASSESSMENT_EVENT_TYPES)
    return reg


def decider(reg: EventRegistry) -> Decider[PatientRecord]:
    return Decider(SERVICE, INITIAL_STATE, decide, evolve, reg)


def stream_of(patient_id: str) -> str:
    return f"patient-{patient_id}"


async def enroll(rt: Runtime, cmd: EnrollPatient, body: EnrollRequest, meta: Metadata,
                 within: Hook | None) -> Outcome[PatientRecord]:
    async def identity_and_directory(conn: asyncpg.Connection, outcome: Outcome[PatientRecord]) -> None:
        await ident.store_identity(conn, cmd.patient_id, cmd.clinic_id, body.display_name,
                                   body.birth_date, body.external_ref)
        await add_patient(conn, cmd.patient_id, cmd.clinic_id, cmd.enrolled_at)

    return await execute(rt.store, rt.extras["decider"], stream_of(cmd.patient_id), cmd,
                         subject=cmd.patient_id, clinic_id=cmd.clinic_id, metadata=meta,
                         expected_version=0, within=chain(identity_and_directory, within))


async def record(rt: Runtime, cmd: RecordAssessment | UpdatePatientPreferences, clinic: str, meta: Metadata,
                 within: Hook | None) -> Outcome[PatientRecord]:
    return await execute(rt.store, rt.extras["decider"], stream_of(cmd.patient_id), cmd,
                         subject=cmd.patient_id, clinic_id=clinic, metadata=meta, within=within)


async def life_event(rt: Runtime, cmd: RecordLifeEvent, note: str | None, clinic: str,
                     meta: Metadata, within: Hook | None) -> Outcome[PatientRecord]:
    async def keep_note(conn: asyncpg.Connection, outcome: Outcome[PatientRecord]) -> None:
        if note:
            await ident.store_note(conn, cmd.life_event_id, cmd.patient_id, note)

    return await execute(rt.store, rt.extras["decider"], stream_of(cmd.patient_id), cmd,
                         subject=cmd.patient_id, clinic_id=clinic, metadata=meta,
                         within=chain(keep_note, within))


async def erase(rt: Runtime, cmd: ErasePatientIdentity, clinic: str, meta: Metadata) -> Outcome[PatientRecord]:
    async def remove(conn: asyncpg.Connection, outcome: Outcome[PatientRecord]) -> None:
        await ident.erase_identity(conn, cmd.patient_id)

    result = await execute(rt.store, rt.extras["decider"], stream_of(cmd.patient_id), cmd,
                           subject=cmd.patient_id, clinic_id=clinic, metadata=meta, within=remove)
    if not result.result.events:  # erased before: make sure nothing came back since
        async with rt.pool.acquire() as conn:
            await ident.erase_identity(conn, cmd.patient_id)
    return result


async def identity(rt: Runtime, patient_id: str) -> asyncpg.Record | None:
    return await ident.fetch_identity(rt.pool, patient_id)


async def notes(rt: Runtime, patient_id: str) -> dict[str, str]:
    return await ident.notes_of(rt.pool, patient_id)


async def history(rt: Runtime, patient_id: str) -> Sequence[DomainEvent]:
    reg: EventRegistry = rt.extras["registry"]
    return [reg.decode(e) for e in await rt.store.read_stream(stream_of(patient_id))]
