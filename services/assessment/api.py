"""HTTP API of the assessment service: parse → authorise → command → handler → response."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse

from services.assessment import handlers
from services.assessment.deps import Context
from services.assessment.domain import (
    AssessmentRecorded,
    EnrollPatient,
    ErasePatientIdentity,
    LifeCircumstanceChanged,
    PatientPreferences,
    RecordAssessment,
    RecordLifeEvent,
    UpdatePatientPreferences,
)
from services.assessment.schemas import (
    AssessmentRequest,
    AssessmentResponse,
    EnrollRequest,
    EnrollResponse,
    LifeEventRequest,
    LifeEventResponse,
    PatientResponse,
    Preferences,
    PreferencesResponse,
)
from shared.access_log import record_access
from shared.auth import Principal, Role, require_roles
from shared.handler import Hook, Outcome
from shared.request_context import command_metadata
from shared.service import patient_clinic, run_command

router = APIRouter(prefix="/v1/patients", tags=["patients"])

ENROLLERS = (Role.COORDINATOR, Role.ASSESSOR, Role.ADMIN)
WRITERS = (Role.ASSESSOR, Role.PRESCRIBER, Role.THERAPIST, Role.COORDINATOR)
CLINICAL = (Role.PRESCRIBER, Role.THERAPIST, Role.ASSESSOR, Role.COORDINATOR, Role.ADMIN)
READERS = (*CLINICAL, Role.AUDITOR)


@router.post("", status_code=201, response_model=EnrollResponse,
             summary="Enroll a patient; identity stays in this service")
async def enroll(body: EnrollRequest, request: Request, ctx: Context,
                 principal: Annotated[Principal, Depends(require_roles(*ENROLLERS))]) -> JSONResponse:
    if not principal.can_see_clinic(body.clinic_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not a member of this clinic")
    patient_id = str(uuid.uuid4())
    preferences = PatientPreferences(**body.preferences.model_dump()) if body.preferences else PatientPreferences()
    command = EnrollPatient(patient_id=patient_id, clinic_id=body.clinic_id, birth_date=body.birth_date,
                            preferences=preferences,
                            enrolled_at=datetime.now(UTC))

    def to_body(outcome: Outcome[Any]) -> dict[str, Any]:
        result = outcome.result
        event = result.events[0]
        return {"patient_id": event.subject, "clinic_id": event.clinic_id,
                "age_band": event.payload["age_band"], "preferences": event.payload["preferences"],
                "version": result.version}

    async def run(within: Hook | None) -> Outcome[Any]:
        return await handlers.enroll(ctx, command, body, command_metadata(request, principal), within)

    return await run_command(request, ctx, principal, run, to_body)


@router.get("/{patient_id}", response_model=PatientResponse, summary="Identity of one patient")
async def get_patient(patient_id: str, request: Request, ctx: Context,
                      principal: Annotated[Principal, Depends(require_roles(*CLINICAL))]) -> PatientResponse:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, "read identity")
    row = await handlers.identity(ctx, patient_id)
    return PatientResponse(patient_id=patient_id, clinic_id=clinic, identity_erased=row is None,
                           display_name=row["display_name"] if row else None,
                           birth_date=row["birth_date"] if row else None,
                           external_ref=row["external_ref"] if row else None)


@router.put("/{patient_id}/preferences", response_model=PreferencesResponse,
            summary="Replace the patient's care preferences (language, non-pharmacological first)")
async def update_preferences(patient_id: str, body: Preferences, request: Request, ctx: Context,
                             principal: Annotated[Principal, Depends(require_roles(*WRITERS, Role.ADMIN))]
                             ) -> dict[str, Any]:
    clinic = await patient_clinic(ctx, principal, patient_id)
    command = UpdatePatientPreferences(patient_id=patient_id, updated_at=datetime.now(UTC),
                                       preferences=PatientPreferences(**body.model_dump()))
    outcome = await handlers.record(ctx, command, clinic, command_metadata(request, principal), None)
    version = outcome.version or await ctx.store.stream_version(handlers.stream_of(patient_id))
    preferences = outcome.state.preferences or command.preferences
    return {"patient_id": patient_id, "preferences": preferences.model_dump(),
            "version": version, "changed": bool(outcome.result.events)}


@router.delete("/{patient_id}/identity", status_code=204,
               summary="Erase identity for good; the pseudonymous history remains")
async def erase(patient_id: str, request: Request, ctx: Context,
                principal: Annotated[Principal, Depends(require_roles(Role.ADMIN))]) -> None:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await handlers.erase(ctx, ErasePatientIdentity(patient_id=patient_id, erased_at=datetime.now(UTC)),
                         clinic, command_metadata(request, principal))


@router.post("/{patient_id}/assessments", status_code=201, response_model=AssessmentResponse,
             summary="Record a scored instrument; the service computes total and band")
async def record_assessment(patient_id: str, body: AssessmentRequest, request: Request, ctx: Context,
                            principal: Annotated[Principal, Depends(require_roles(*WRITERS))]) -> JSONResponse:
    clinic = await patient_clinic(ctx, principal, patient_id)
    command = RecordAssessment(patient_id=patient_id, assessment_id=str(uuid.uuid4()),
                               instrument=body.instrument, item_scores=body.item_scores,
                               administered_at=body.administered_at, client_total=body.total)

    def to_body(outcome: Outcome[Any]) -> dict[str, Any]:
        result = outcome.result
        return assessment_body(result.events[0].payload, result.version)

    async def run(within: Hook | None) -> Outcome[Any]:
        return await handlers.record(ctx, command, clinic, command_metadata(request, principal), within)

    return await run_command(request, ctx, principal, run, to_body)


@router.get("/{patient_id}/assessments", response_model=list[AssessmentResponse],
            summary="Assessments of one patient, oldest first")
async def list_assessments(patient_id: str, request: Request, ctx: Context,
                           principal: Annotated[Principal, Depends(require_roles(*READERS))],
                           instrument: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, "read assessments")
    events = await handlers.history(ctx, patient_id)
    out = [assessment_body(e.model_dump(mode="json"), None) for e in events
           if isinstance(e, AssessmentRecorded) and instrument in (None, e.instrument)]
    return sorted(out, key=lambda a: a["administered_at"])


@router.post("/{patient_id}/life-events", status_code=201, response_model=LifeEventResponse,
             summary="Record a change in life circumstances (the note stays in this service)")
async def record_life_event(patient_id: str, body: LifeEventRequest, request: Request, ctx: Context,
                            principal: Annotated[Principal, Depends(require_roles(*WRITERS))]) -> JSONResponse:
    clinic = await patient_clinic(ctx, principal, patient_id)
    command = RecordLifeEvent(patient_id=patient_id, life_event_id=str(uuid.uuid4()),
                              category=body.category, direction=body.direction, impact=body.impact,
                              occurred_at=body.occurred_at)

    def to_body(outcome: Outcome[Any]) -> dict[str, Any]:
        result = outcome.result
        p = result.events[0].payload
        return {"life_event_id": p["life_event_id"], "patient_id": patient_id,
                "category": p["category"], "direction": p["direction"], "impact": p["impact"],
                "occurred_at": p["occurred_at"], "note": body.note, "version": result.version}

    async def run(within: Hook | None) -> Outcome[Any]:
        return await handlers.life_event(ctx, command, body.note, clinic,
                                         command_metadata(request, principal), within)

    return await run_command(request, ctx, principal, run, to_body)


@router.get("/{patient_id}/life-events", response_model=list[LifeEventResponse],
            summary="Life circumstance changes of one patient, oldest first")
async def list_life_events(patient_id: str, request: Request, ctx: Context,
                           principal: Annotated[Principal, Depends(require_roles(*CLINICAL))]
                           ) -> list[dict[str, Any]]:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, "read life events")
    notes = await handlers.notes(ctx, patient_id)
    events = await handlers.history(ctx, patient_id)
    out = [{**e.model_dump(mode="json"), "note": notes.get(e.life_event_id)}
           for e in events if isinstance(e, LifeCircumstanceChanged)]
    return sorted(out, key=lambda a: a["occurred_at"])


def assessment_body(p: Any, version: int | None) -> dict[str, Any]:
    return {"assessment_id": p["assessment_id"], "patient_id": p["patient_id"],
            "instrument": p["instrument"], "item_scores": p["item_scores"], "total": p["total"],
            "max_total": p["max_total"], "band": p["band"], "loinc": p["loinc"],
            "safety_item_positive": p["safety_item_positive"], "administered_at": p["occurred_at"],
            "version": version}
