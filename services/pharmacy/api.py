"""HTTP API of the pharmacy service: parse → authorise → command → handler → response."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from services.pharmacy import handlers, notes
from services.pharmacy.deps import Context, PharmacyContext
from services.pharmacy.domain import (
    AdjustDose,
    Command,
    DiscontinueMedication,
    DrugRef,
    ReportAdverseEffect,
    Schedule,
    StartMedication,
)
from services.pharmacy.schemas import (
    AdjustRequest,
    AdverseEffectRequest,
    CommandResponse,
    Course,
    CourseWithHistory,
    DiscontinueRequest,
    NoteView,
    StartRequest,
)
from shared.access_log import record_access
from shared.auth import Principal, Role, require_roles
from shared.envelope import Metadata
from shared.handler import Hook, Outcome
from shared.idempotency import chain
from shared.patient_api import Addressed, submit
from shared.service import patient_clinic

router = APIRouter(prefix="/v1/patients/{patient_id}/medications", tags=["medications"])

# Prescribing is a prescriber's: an admin manages identity and configuration, not medication.
WRITERS = (Role.PRESCRIBER,)
READERS = (Role.PRESCRIBER, Role.THERAPIST, Role.ASSESSOR, Role.COORDINATOR, Role.ADMIN, Role.AUDITOR)
Writer = Annotated[Principal, Depends(require_roles(*WRITERS))]
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
# Notes are the care team's words about a person: not an admin's or an auditor's reading.
NOTE_READERS = (Role.PRESCRIBER, Role.THERAPIST, Role.ASSESSOR, Role.COORDINATOR)
NoteReader = Annotated[Principal, Depends(require_roles(*NOTE_READERS))]


async def _command(request: Request, ctx: PharmacyContext, principal: Principal, patient_id: str,
                   command: Command, expected_version: int | None = None,
                   written: dict[str, str | None] | None = None) -> JSONResponse:
    keep = notes.keep(patient_id, command.medication_id, written or {})

    async def execute(clinic: str, meta: Metadata, within: Hook | None) -> Outcome[Any]:
        return await handlers.handle(ctx, command, clinic, meta, chain(keep, within), expected_version)

    # Every command but the start names an existing course: the patient's, or 404 (before versions).
    addressed = None if isinstance(command, StartMedication) else Addressed(
        handlers.stream_of(command.medication_id), "medication course not found", "medication_id")
    return await submit(request, ctx, principal, patient_id, execute, handlers.command_body, addressed=addressed)


@router.post("", status_code=201, response_model=CommandResponse, summary="Start a medication course")
async def start(patient_id: str, body: StartRequest, request: Request, ctx: Context, principal: Writer) -> JSONResponse:
    command = StartMedication(
        patient_id=patient_id, medication_id=str(uuid.uuid4()),
        drug=DrugRef(code=body.drug.code, system=body.drug.system), dose=body.dose, unit=body.unit,
        schedule=Schedule(**body.schedule.model_dump()), route=body.route, indication=body.indication,
        started_at=body.started_at, prescriber_id=principal.staff_id, override_reason=body.override_reason)
    return await _command(request, ctx, principal, patient_id, command, written={
        "indication_note": body.indication_note, "override_reason_note": body.override_reason_note})


@router.post("/{medication_id}/dose-adjustments", status_code=201, response_model=CommandResponse,
             summary="Change the dose; send expected_version to refuse a concurrent change (409)")
async def adjust(patient_id: str, medication_id: str, body: AdjustRequest, request: Request,
                 ctx: Context, principal: Writer) -> JSONResponse:
    command = AdjustDose(patient_id=patient_id, medication_id=medication_id, dose=body.dose, unit=body.unit,
                         reason=body.reason, effective_at=body.effective_at, prescriber_id=principal.staff_id,
                         override_reason=body.override_reason)
    return await _command(request, ctx, principal, patient_id, command, body.expected_version, written={
        "reason_note": body.reason_note, "override_reason_note": body.override_reason_note})


@router.post("/{medication_id}/discontinuation", status_code=201, response_model=CommandResponse,
             summary="Stop the course")
async def discontinue(patient_id: str, medication_id: str, body: DiscontinueRequest, request: Request,
                      ctx: Context, principal: Writer) -> JSONResponse:
    command = DiscontinueMedication(patient_id=patient_id, medication_id=medication_id, reason=body.reason,
                                    effective_at=body.effective_at, prescriber_id=principal.staff_id)
    return await _command(request, ctx, principal, patient_id, command, written={"reason_note": body.reason_note})


@router.post("/{medication_id}/adverse-effects", status_code=201, response_model=CommandResponse,
             summary="Report an adverse effect of the course")
async def adverse_effect(patient_id: str, medication_id: str, body: AdverseEffectRequest, request: Request,
                         ctx: Context,
                         principal: Annotated[Principal, Depends(require_roles(*WRITERS, Role.THERAPIST,
                                                                                Role.COORDINATOR))]
                         ) -> JSONResponse:
    command = ReportAdverseEffect(patient_id=patient_id, medication_id=medication_id, effect=body.effect,
                                  severity=body.severity, observed_at=body.observed_at,
                                  reporter_id=principal.staff_id)
    return await _command(request, ctx, principal, patient_id, command, written={"effect_note": body.effect_note})


@router.get("", response_model=list[Course], summary="Courses of a patient, active first")
async def list_courses(patient_id: str, ctx: Context, principal: Reader) -> list[dict[str, Any]]:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, "read medications")
    return await handlers.courses_of(ctx, patient_id)


@router.get("/{medication_id}", response_model=CourseWithHistory, summary="One course with its history")
async def get_course(patient_id: str, medication_id: str, ctx: Context, principal: Reader) -> dict[str, Any]:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, "read medication")
    view = await handlers.course(ctx, patient_id, medication_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "medication not found")
    return view


@router.get("/{medication_id}/notes", response_model=list[NoteView],
            summary="The care team's notes beside the course's codes (kept here only; erased with the identity)")
async def course_notes(patient_id: str, medication_id: str, ctx: Context, principal: NoteReader
                       ) -> list[dict[str, Any]]:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, "read medication notes")
    if await handlers.course(ctx, patient_id, medication_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "medication not found")
    return await notes.of_course(ctx.pool, patient_id, medication_id)
