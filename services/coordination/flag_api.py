"""``POST /v1/flags/{flag_id}/acknowledgement``: a clinician acknowledges a risk flag.

Clinical roles only; another clinic's flag answers 404 like a missing one; a resolved flag
409; a patient whose identity was erased 409 (no new acts about them). ``Idempotency-Key``
replays the first answer, as for every command."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from services.coordination.deps import Context
from services.coordination.flag_schemas import AcknowledgementRequest, FlagResponse
from services.coordination.flagging.acknowledge import Acknowledge, acknowledge, load_flag
from services.coordination.flagging.model import StoredFlag, flag_json
from shared.auth import Principal, Role, require_roles
from shared.handler import Hook, Outcome
from shared.idempotency import run_idempotent
from shared.patient_api import refuse_erased
from shared.request_context import command_metadata

router = APIRouter(prefix="/v1/flags", tags=["risk flags"])

Clinician = Annotated[Principal, Depends(require_roles(Role.PRESCRIBER, Role.THERAPIST, Role.COORDINATOR))]


def _body(outcome: Outcome[Any]) -> dict[str, Any]:
    return flag_json(outcome.state)


@router.post("/{flag_id}/acknowledgement", response_model=FlagResponse,
             summary="Acknowledge a flag with a reason code (the note stays in this service)")
async def acknowledgement(flag_id: str, body: AcknowledgementRequest, request: Request, ctx: Context,
                          principal: Clinician) -> JSONResponse:
    command = Acknowledge(flag_id=flag_id, reason=body.reason, note=body.note, staff_id=principal.staff_id,
                          clinics=principal.clinic_ids)
    metadata = command_metadata(request, principal)

    async def run(within: Hook | None) -> Outcome[StoredFlag]:
        flag = await load_flag(ctx.pool, flag_id)
        if flag is not None and flag.clinic_id in principal.clinic_ids:
            await refuse_erased(ctx, flag.patient_id)
        return await acknowledge(ctx.pool, ctx.store, ctx.flagging.topic, command, metadata, within)

    return await run_idempotent(request, ctx.idempotency, principal.staff_id, run, _body, status_code=200)
