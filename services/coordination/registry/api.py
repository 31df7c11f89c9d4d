"""GET /v1/caseload and GET /v1/measures."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["caseload and quality measures"])
