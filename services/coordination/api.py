"""The team's decisions over HTTP: parse → authorise → command → handler → response.

Scoping, erasure (409), idempotency and the rest are the same as in every service
(``shared.patient_api``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from services.coordination import handlers
from services.coordination.deps import Context, CoordinationContext
from services.coordination.domain import Command, DecideEscalation, HoldCaseConference, ReviewCarePlan
from services.coordination.schemas import (
    CarePlanReviewRequest,
    CarePlanReviewResponse,
    CaseConferenceRequest,
    CaseConferenceResponse,
    EscalationRequest,
    EscalationResponse,
)
from shared.auth import Principal, Role, require_roles
from shared.idempotency import ToBody
from shared.patient_api import submit

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["team decisions"])

WRITERS = (Role.COORDINATOR, Role.PRESCRIBER, Role.THERAPIST)
Writer = Annotated[Principal, Depends(require_roles(*WRITERS))]


async def _submit(request: Request, ctx: CoordinationContext, principal: Principal, command: Command,
                  to_body: ToBody) -> JSONResponse:
    return await submit(request, ctx, principal, command.patient_id, handlers.executor(ctx, command), to_body)


@router.post("/escalations", status_code=201, response_model=EscalationResponse,
             summary="Decide to step care up; due_by defaults to decided_at + 14 days")
async def escalate(patient_id: str, body: EscalationRequest, request: Request, ctx: Context,
                   principal: Writer) -> JSONResponse:
    command = DecideEscalation(patient_id=patient_id, escalation_id=str(uuid.uuid4()), target=body.target,
                               reason=body.reason, decided_at=body.decided_at, due_by=body.due_by,
                               decided_by=principal.staff_id)
    return await _submit(request, ctx, principal, command, handlers.escalation_body)


@router.post("/care-plan-reviews", status_code=201, response_model=CarePlanReviewResponse,
             summary="Record that the team reviewed the care plan")
async def review(patient_id: str, body: CarePlanReviewRequest, request: Request, ctx: Context,
                 principal: Writer) -> JSONResponse:
    command = ReviewCarePlan(patient_id=patient_id, review_id=str(uuid.uuid4()), reason=body.reason,
                             reviewed_at=body.reviewed_at, goals=tuple(body.goals),
                             reviewed_by=principal.staff_id)
    return await _submit(request, ctx, principal, command, handlers.review_body)


@router.post("/case-conferences", status_code=201, response_model=CaseConferenceResponse,
             summary="Record a case conference: who attended (staff ids) and what was decided (codes)")
async def conference(patient_id: str, body: CaseConferenceRequest, request: Request, ctx: Context,
                     principal: Writer) -> JSONResponse:
    command = HoldCaseConference(patient_id=patient_id, conference_id=str(uuid.uuid4()), held_at=body.held_at,
                                 attendees=tuple(body.attendees), decisions=tuple(body.decisions),
                                 recorded_by=principal.staff_id)
    return await _submit(request, ctx, principal, command, handlers.conference_body)
