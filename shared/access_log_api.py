"""The auditors' view of the access log, the same route in every service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from shared.access_log import accesses, record_access
from shared.auth import Principal, Role, require_roles
from shared.service import ServiceContext, context_dependency, patient_clinic

Context = Annotated[ServiceContext, Depends(context_dependency(ServiceContext))]


def access_log_router() -> APIRouter:
    """``GET /v1/patients/{patient_id}/access-log``: who read this patient's data here, for
    auditors and admins of the patient's clinic. Reading it is itself recorded."""

    router = APIRouter(prefix="/v1/patients", tags=["audit"])

    @router.get("/{patient_id}/access-log", summary="Reads of this patient's data in this service")
    async def access_log(patient_id: str, ctx: Context,
                         principal: Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]
                         ) -> list[dict[str, object]]:
        clinic = await patient_clinic(ctx, principal, patient_id)
        await record_access(ctx.pool, principal, clinic, patient_id, "read access log")
        return await accesses(ctx.pool, patient_id)

    return router
