"""GET /v1/patients/{patient_id}/fhir, the quality measures as MeasureReports and the Bulk Data
export under /v1/fhir."""

from __future__ import annotations

from fastapi import APIRouter

from .export_api import router as export_router
from .measure_api import router as measure_router
from .patient_api import router as patient_router

router = APIRouter(tags=["FHIR"])
router.include_router(patient_router)
router.include_router(measure_router)
router.include_router(export_router)
