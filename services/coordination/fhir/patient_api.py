"""``GET /v1/patients/{patient_id}/fhir``: the patient's care as an R4 Bundle (type collection).

The care team, admins and auditors of the patient's clinic; another clinic's patient is answered
like a missing one (404), and the read is logged before anything is sent.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from services.coordination.deps import Context
from shared.patient_api import ClinicalReader, read_access

from .bundle import bundle
from .reads import enrolled, records

FHIR_JSON = "application/fhir+json"
NOT_FOUND = "patient not found"

router = APIRouter(tags=["FHIR"])


def fhir_base(request: Request) -> str:
    """The base every exported resource's URL is made from: this service's ``/v1/fhir``."""
    return f"{str(request.base_url).rstrip('/')}/v1/fhir"


@router.get("/v1/patients/{patient_id}/fhir", response_class=JSONResponse,
            summary="The patient's care as a FHIR R4 Bundle (type collection), pseudonymous",
            responses={200: {"content": {FHIR_JSON: {}}}})
async def patient_bundle(patient_id: str, request: Request, ctx: Context, principal: ClinicalReader) -> JSONResponse:
    clinic = await read_access(ctx, principal, patient_id, "read FHIR bundle")
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if not await enrolled(conn, patient_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
        (record,) = await records(conn, {patient_id: clinic})
    return JSONResponse(bundle(record, fhir_base(request)), media_type=FHIR_JSON)
