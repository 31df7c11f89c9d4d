"""HTTP API of the therapy service: parse → authorise → command → handler → response.

Therapists and coordinators write; clinical roles and auditors read. Scoping, erasure,
idempotency and the access log are the same as in every service (``shared.patient_api``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from services.therapy import handlers
from services.therapy.deps import Context, TherapyContext
from services.therapy.domain import (
    CancelSession,
    ChangeCareStep,
    ChangeModality,
    Command,
    CompleteSession,
    EndEpisode,
    MarkSessionMissed,
    ScheduleSession,
    StartEpisode,
)
from services.therapy.schemas import (
    CancellationRequest,
    CareStepChangeRequest,
    CommandResponse,
    CompletionRequest,
    EndRequest,
    Episode,
    EpisodeWithSessions,
    ModalityChangeRequest,
    NoShowRequest,
    ScheduleRequest,
    SessionCommandResponse,
    StartRequest,
)
from shared.auth import Principal, Role, require_roles
from shared.patient_api import Addressed, ClinicalReader, read_access, submit

router = APIRouter(prefix="/v1/patients/{patient_id}/episodes", tags=["therapy episodes"])

Writer = Annotated[Principal, Depends(require_roles(Role.THERAPIST, Role.COORDINATOR))]
SESSION = "/{episode_id}/sessions/{session_id}"


async def _submit(request: Request, ctx: TherapyContext, principal: Principal, command: Command,
                  expected_version: int | None = None, session_id: str | None = None) -> JSONResponse:
    # Every command but the start names an existing episode: the patient's, or 404 (before versions).
    addressed = None if isinstance(command, StartEpisode) else Addressed(
        handlers.stream_of(command.episode_id), "therapy episode not found", "episode_id")
    return await submit(request, ctx, principal, command.patient_id,
                        handlers.executor(ctx, command, expected_version), handlers.command_body(session_id),
                        addressed=addressed)


@router.post("", status_code=201, response_model=CommandResponse, summary="Start a therapy episode")
async def start(patient_id: str, body: StartRequest, request: Request, ctx: Context, principal: Writer) -> JSONResponse:
    # A therapist who starts an episode without naming one is its therapist.
    therapist = body.therapist_id or (principal.staff_id if principal.has_any_role(Role.THERAPIST) else None)
    command = StartEpisode(patient_id=patient_id, episode_id=str(uuid.uuid4()), modality=body.modality,
                           care_step=body.care_step, started_at=body.started_at, therapist_id=therapist,
                           setting=body.setting)
    return await _submit(request, ctx, principal, command)


@router.post("/{episode_id}/sessions", status_code=201, response_model=SessionCommandResponse,
             summary="Schedule a session of the episode")
async def schedule(patient_id: str, episode_id: str, body: ScheduleRequest, request: Request, ctx: Context,
                   principal: Writer) -> JSONResponse:
    session_id = str(uuid.uuid4())
    command = ScheduleSession(patient_id=patient_id, episode_id=episode_id, session_id=session_id,
                              scheduled_at=body.scheduled_at, booked_at=datetime.now(UTC))
    return await _submit(request, ctx, principal, command, body.expected_version, session_id)


@router.post(f"{SESSION}/completion", status_code=201, response_model=SessionCommandResponse,
             summary="Record that a scheduled session took place")
async def complete(patient_id: str, episode_id: str, session_id: str, body: CompletionRequest, request: Request,
                   ctx: Context, principal: Writer) -> JSONResponse:
    command = CompleteSession(patient_id=patient_id, episode_id=episode_id, session_id=session_id,
                              completed_at=body.completed_at, duration_min=body.duration_min,
                              techniques=tuple(body.techniques), homework=tuple(body.homework))
    return await _submit(request, ctx, principal, command, body.expected_version, session_id)


@router.post(f"{SESSION}/no-show", status_code=201, response_model=SessionCommandResponse,
             summary="Record that the patient missed a scheduled session")
async def no_show(patient_id: str, episode_id: str, session_id: str, request: Request, ctx: Context,
                  principal: Writer, body: NoShowRequest | None = None) -> JSONResponse:
    body = body or NoShowRequest()
    command = MarkSessionMissed(patient_id=patient_id, episode_id=episode_id, session_id=session_id,
                                missed_at=body.missed_at)
    return await _submit(request, ctx, principal, command, body.expected_version, session_id)


@router.post(f"{SESSION}/cancellation", status_code=201, response_model=SessionCommandResponse,
             summary="Cancel a scheduled session, by the patient or by the clinic")
async def cancel(patient_id: str, episode_id: str, session_id: str, body: CancellationRequest, request: Request,
                 ctx: Context, principal: Writer) -> JSONResponse:
    command = CancelSession(patient_id=patient_id, episode_id=episode_id, session_id=session_id,
                            cancelled_at=body.cancelled_at, by=body.by)
    return await _submit(request, ctx, principal, command, body.expected_version, session_id)


@router.post("/{episode_id}/modality-changes", status_code=201, response_model=CommandResponse,
             summary="Change the episode's modality")
async def change_modality(patient_id: str, episode_id: str, body: ModalityChangeRequest, request: Request,
                          ctx: Context, principal: Writer) -> JSONResponse:
    command = ChangeModality(patient_id=patient_id, episode_id=episode_id, modality=body.modality,
                             reason=body.reason, changed_at=body.changed_at)
    return await _submit(request, ctx, principal, command, body.expected_version)


@router.post("/{episode_id}/care-step-changes", status_code=201, response_model=CommandResponse,
             summary="Move the episode to another step of stepped care")
async def change_care_step(patient_id: str, episode_id: str, body: CareStepChangeRequest, request: Request,
                           ctx: Context, principal: Writer) -> JSONResponse:
    command = ChangeCareStep(patient_id=patient_id, episode_id=episode_id, to_step=body.to_step,
                             reason=body.reason, changed_at=body.changed_at)
    return await _submit(request, ctx, principal, command, body.expected_version)


@router.post("/{episode_id}/end", status_code=201, response_model=CommandResponse,
             summary="End the episode; nothing more is recorded on it")
async def end(patient_id: str, episode_id: str, body: EndRequest, request: Request, ctx: Context,
              principal: Writer) -> JSONResponse:
    command = EndEpisode(patient_id=patient_id, episode_id=episode_id, reason=body.reason, ended_at=body.ended_at)
    return await _submit(request, ctx, principal, command, body.expected_version)


@router.get("", response_model=list[Episode], summary="Episodes of a patient, active first")
async def list_episodes(patient_id: str, ctx: Context, principal: ClinicalReader) -> list[dict[str, Any]]:
    await read_access(ctx, principal, patient_id, "read therapy episodes")
    return await handlers.episodes_of(ctx, patient_id)


@router.get("/{episode_id}", response_model=EpisodeWithSessions, summary="One episode with its sessions and history")
async def get_episode(patient_id: str, episode_id: str, ctx: Context, principal: ClinicalReader) -> dict[str, Any]:
    await read_access(ctx, principal, patient_id, "read therapy episode")
    view = await handlers.episode(ctx, patient_id, episode_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "therapy episode not found")
    return view
