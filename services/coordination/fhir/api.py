"""GET /v1/patients/{patient_id}/fhir and the Bulk Data export under /v1/fhir."""

from __future__ import annotations

from fastapi import APIRouter

from .patient_api import router as patient_router

router = APIRouter(tags=["FHIR"])
router.include_router(patient_router)
