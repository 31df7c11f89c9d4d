"""The assessment service: enrollment, validated instruments, life circumstances."""

from __future__ import annotations

from fastapi import FastAPI

from services.assessment import api, handlers
from services.assessment.deps import AssessmentContext
from shared.access_log_api import access_log_router
from shared.directory import PatientDirectory
from shared.idempotency import IdempotencyStore
from shared.service import Runtime, Started, create_service_app
from shared.settings import ServiceSettings, settings_for

Settings = settings_for("assessment")


async def _start(rt: Runtime) -> Started[AssessmentContext]:
    idempotency = IdempotencyStore(rt.pool)
    # Enrollment writes the directory in its own transaction: no wait on a miss here.
    directory = PatientDirectory(rt.pool, miss_wait_seconds=0)
    return Started(AssessmentContext(rt, idempotency, directory, handlers.command_handler(rt.store)))


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), title="carecoord assessment",
                              description="Enrollment, validated instruments and life circumstances.",
                              routers=[api.router, access_log_router()], on_start=_start)
