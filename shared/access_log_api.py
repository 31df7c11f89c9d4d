"""The auditors' view of the access log, the same routes in every service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from shared.access_log import AccessQuery, access_entries, accesses, record_access
from shared.auth import Principal, Role, require_roles
from shared.service import ServiceContext, context_dependency, patient_clinic

Context = Annotated[ServiceContext, Depends(context_dependency(ServiceContext))]
Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR))]

MAX_LIMIT = 10_000


def access_query(
    patient: Annotated[str | None, Query(max_length=200, description="one patient id")] = None,
    actor: Annotated[str | None, Query(max_length=200, description="one staff id")] = None,
    at_from: Annotated[AwareDatetime | None, Query(alias="from", description="inclusive")] = None,
    at_to: Annotated[AwareDatetime | None, Query(alias="to", description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
) -> AccessQuery:
    return AccessQuery(patient, actor, at_from, at_to, limit)


Filters = Annotated[AccessQuery, Depends(access_query)]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def entry_json(service: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"service": service, "id": row["id"], "at": _iso(row["at"]), "staff_id": row["staff_id"],
            "roles": list(row["roles"]), "caller_clinics": list(row["caller_clinics"] or []),
            "clinic_id": row["clinic_id"], "patient_id": row["patient_id"], "action": row["action"],
            "outcome": row["outcome"], "status": row["status"], "endpoint": row["endpoint"]}


async def local_access(ctx: ServiceContext, principal: Principal, query: AccessQuery) -> dict[str, Any]:
    """This service's rows the auditor may see, oldest first. Reading them is itself recorded,
    once per patient shown (as the flag worklist does), after the rows are read."""
    service = ctx.runtime.settings.service_name
    rows = await access_entries(ctx.pool, principal.clinic_ids, query)
    shown = rows[:query.limit]
    patients = sorted({(r["clinic_id"], r["patient_id"]) for r in shown if r["clinic_id"] is not None})
    if patients:
        async with ctx.pool.acquire() as conn, conn.transaction():
            for clinic_id, patient_id in patients:
                await record_access(conn, principal, clinic_id, patient_id, "read access log")
    return {"entries": [entry_json(service, r) for r in shown], "services": [service], "unavailable": [],
            "truncated": len(rows) > query.limit}


def access_log_router(*, audit_access: bool = True) -> APIRouter:
    """``GET /v1/patients/{patient_id}/access-log``: who read this patient's data here, for
    auditors and admins of the patient's clinic; ``GET /v1/audit/access`` (unless
    ``audit_access`` is off: coordination serves a merged one): this service's rows, filtered,
    for auditors of their clinics. Reading either is itself recorded."""

    router = APIRouter(tags=["audit"])

    @router.get("/v1/patients/{patient_id}/access-log", summary="Reads of this patient's data in this service")
    async def access_log(patient_id: str, ctx: Context,
                         principal: Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]
                         ) -> list[dict[str, object]]:
        clinic = await patient_clinic(ctx, principal, patient_id)
        await record_access(ctx.pool, principal, clinic, patient_id, "read access log")
        return await accesses(ctx.pool, patient_id)

    if audit_access:
        @router.get("/v1/audit/access", summary="This service's access log: reads and refused attempts")
        async def audit_access_log(ctx: Context, principal: Auditor, query: Filters) -> dict[str, Any]:
            return await local_access(ctx, principal, query)

    return router
