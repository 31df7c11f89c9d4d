"""The pharmacy service: medication courses, dose adjustments, adverse effects."""

from __future__ import annotations

from fastapi import FastAPI

from services.pharmacy import api, handlers
from services.pharmacy.formulary import load_formulary
from shared.access_log import access_log_router
from shared.directory import directory_runner
from shared.idempotency import IdempotencyStore
from shared.service import Runtime, Task, create_service_app
from shared.settings import ServiceSettings, settings_for

Settings = settings_for("pharmacy")


async def _start(rt: Runtime) -> list[Task]:
    idempotency = IdempotencyStore(rt.pool)
    await idempotency.migrate()
    formulary = load_formulary()
    reg = handlers.registry()
    directory, runner = await directory_runner(rt)
    rt.extras.update(registry=reg, decider=handlers.decider(reg, formulary), idempotency=idempotency,
                     formulary=formulary, directory=directory)
    return [runner.run]


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), title="carecoord pharmacy",
                              description="Medication courses, dose adjustments and adverse effects.",
                              routers=[api.router, access_log_router()], on_start=_start)
