"""``GET /v1/fhir/MeasureReport?clinic=&from=&to=&as_of=``: the quality measures of
``GET /v1/measures`` as FHIR MeasureReports, in a Bundle of type searchset.

The same readers (coordinators and auditors), the same clinics (the caller's; a clinic outside
them gives nothing, as the measures do), the same months and moment, the same 422s, the same
numbers. The reports name no patient, so the read is not in the access log (as the measures'
counts are not).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.coordination.audit.asof_reads import AsOf, checked
from services.coordination.deps import Context
from services.coordination.registry.api import (
    FROM_TEXT,
    TO_TEXT,
    ClinicQuery,
    MeasuresReader,
    clinic_measures,
    measures_period,
)

from .measure_reports import searchset
from .patient_api import FHIR_JSON, fhir_base

router = APIRouter(prefix="/v1/fhir", tags=["FHIR"])


@router.get("/MeasureReport", response_class=JSONResponse,
            summary="The care-process quality measures as FHIR MeasureReports (a Bundle of type searchset), "
                    "per clinic and month, as known at as_of",
            responses={200: {"content": {FHIR_JSON: {}}}})
async def measure_reports(
    request: Request, ctx: Context, principal: MeasuresReader, clinic: ClinicQuery = None,
    first: Annotated[str | None, Query(alias="from", max_length=10, description=FROM_TEXT)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10, description=TO_TEXT)] = None,
    as_of: AsOf = None,
) -> JSONResponse:
    now = datetime.now(UTC)
    moment = checked(as_of) if as_of is not None else now
    frm, to = measures_period(moment, first, last)
    clinics = sorted(principal.clinic_ids if clinic is None else principal.clinic_ids & {clinic})
    result = await clinic_measures(ctx.pool, clinics, moment, frm, to)
    return JSONResponse(searchset(result, fhir_base(request), str(request.url), now), media_type=FHIR_JSON)
