"""The assessment service: enrollment, validated instruments, life circumstances."""

from __future__ import annotations

from fastapi import FastAPI

from services.assessment import api, handlers
from services.assessment.identity import migrate_identity
from shared.access_log import access_log_router, migrate_access_log
from shared.directory import PatientDirectory, migrate_directory
from shared.idempotency import IdempotencyStore
from shared.service import Runtime, Task, create_service_app
from shared.settings import ServiceSettings, settings_for

Settings = settings_for("assessment")


async def _start(rt: Runtime) -> list[Task]:
    idempotency = IdempotencyStore(rt.pool)
    await idempotency.migrate()
    await migrate_directory(rt.pool)
    await migrate_access_log(rt.pool)
    await migrate_identity(rt.pool)
    reg = handlers.registry()
    # Enrollment writes the directory in its own transaction: no wait on a miss here.
    rt.extras.update(registry=reg, decider=handlers.decider(reg), idempotency=idempotency,
                     directory=PatientDirectory(rt.pool, miss_wait_seconds=0))
    return []


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), title="carecoord assessment",
                              description="Enrollment, validated instruments and life circumstances.",
                              routers=[api.router, access_log_router()], on_start=_start)
