"""GET /v1/patients/{patient_id}/fhir and the Bulk Data export under /v1/fhir."""

from __future__ import annotations

from fastapi import APIRouter

from .export_api import router as export_router
from .patient_api import router as patient_router

router = APIRouter(tags=["FHIR"])
router.include_router(patient_router)
router.include_router(export_router)
