"""GET /v1/patients/{patient_id}/fhir and the Bulk Data export under /v1/fhir."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["FHIR"])
