"""Command handlers of the assessment service: one stream per patient record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, assert_never

import asyncpg

from services.assessment import identity as ident
from services.assessment.domain import (
    ASSESSMENT_EVENT_TYPES,
    INITIAL_STATE,
    Command,
    Enrolled,
    EnrollPatient,
    Erased,
    ErasePatientIdentity,
    NotEnrolled,
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
from shared.errors import NotFound
from shared.events import DomainEvent
from shared.eventstore import EventStore
from shared.handler import CommandHandler, Decider, Hook, Outcome
from shared.idempotency import chain

if TYPE_CHECKING:
    from services.assessment.deps import AssessmentContext

SERVICE = "assessment"


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(SERVICE, *ASSESSMENT_EVENT_TYPES)
    return reg


DECIDER: Decider[PatientRecord, Command] = Decider(INITIAL_STATE, decide, evolve)


def command_handler(store: EventStore) -> CommandHandler[PatientRecord, Command]:
    return CommandHandler(store, DECIDER, service=SERVICE, registry=registry())


def stream_of(patient_id: str) -> str:
    return f"patient-{patient_id}"


def _open(outcome: Outcome[PatientRecord]) -> Outcome[Enrolled]:
    """The outcome of a command that needs an open record, which it leaves open (the decider
    refuses it on any other)."""
    match outcome.state:
        case Enrolled() as record:
            return Outcome(outcome.result, record)
        case NotEnrolled() | Erased():
            raise NotFound("patient not found", field="patient_id")
        case _:
            assert_never(outcome.state)


async def enroll(ctx: AssessmentContext, cmd: EnrollPatient, body: EnrollRequest, meta: Metadata,
                 within: Hook | None) -> Outcome[Enrolled]:
    async def identity_and_directory(conn: asyncpg.Connection, outcome: Outcome[PatientRecord]) -> None:
        await ident.store_identity(conn, cmd.patient_id, cmd.clinic_id, body.display_name,
                                   body.birth_date, body.external_ref)
        await add_patient(conn, cmd.patient_id, cmd.clinic_id, cmd.enrolled_at)

    return _open(await ctx.records.execute(stream_of(cmd.patient_id), cmd,
                                           subject=cmd.patient_id, clinic_id=cmd.clinic_id, metadata=meta,
                                           expected_version=0, within=chain(identity_and_directory, within)))


async def record(ctx: AssessmentContext, cmd: RecordAssessment | UpdatePatientPreferences, clinic: str, meta: Metadata,
                 within: Hook | None) -> Outcome[Enrolled]:
    return _open(await ctx.records.execute(stream_of(cmd.patient_id), cmd,
                                           subject=cmd.patient_id, clinic_id=clinic, metadata=meta, within=within))


async def life_event(ctx: AssessmentContext, cmd: RecordLifeEvent, note: str | None, clinic: str,
                     meta: Metadata, within: Hook | None) -> Outcome[Enrolled]:
    async def keep_note(conn: asyncpg.Connection, outcome: Outcome[PatientRecord]) -> None:
        if note:
            await ident.store_note(conn, cmd.life_event_id, cmd.patient_id, note)

    return _open(await ctx.records.execute(stream_of(cmd.patient_id), cmd,
                                           subject=cmd.patient_id, clinic_id=clinic, metadata=meta,
                                           within=chain(keep_note, within)))


async def erase(ctx: AssessmentContext, cmd: ErasePatientIdentity, clinic: str,
                meta: Metadata) -> Outcome[PatientRecord]:
    async def remove(conn: asyncpg.Connection, outcome: Outcome[PatientRecord]) -> None:
        await ident.erase_identity(conn, cmd.patient_id)

    result = await ctx.records.execute(stream_of(cmd.patient_id), cmd,
                           subject=cmd.patient_id, clinic_id=clinic, metadata=meta, within=remove)
    if not result.result.events:  # erased before: make sure nothing came back since
        async with ctx.pool.acquire() as conn:
            await ident.erase_identity(conn, cmd.patient_id)
    return result


async def identity(ctx: AssessmentContext, patient_id: str) -> asyncpg.Record | None:
    return await ident.fetch_identity(ctx.pool, patient_id)


async def notes(ctx: AssessmentContext, patient_id: str) -> dict[str, str]:
    return await ident.notes_of(ctx.pool, patient_id)


async def history(ctx: AssessmentContext, patient_id: str) -> Sequence[DomainEvent]:
    return await ctx.records.history(stream_of(patient_id))
