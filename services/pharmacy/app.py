"""The pharmacy service: medication courses, dose adjustments, adverse effects."""

from __future__ import annotations

from fastapi import FastAPI

from services.pharmacy import api, handlers, notes
from services.pharmacy.deps import PharmacyContext
from services.pharmacy.formulary import load_formulary
from shared.access_log_api import access_log_router
from shared.directory import directory_runner
from shared.idempotency import IdempotencyStore
from shared.service import Runtime, Started, create_service_app
from shared.settings import ServiceSettings, settings_for

Settings = settings_for("pharmacy")


async def _start(rt: Runtime) -> Started[PharmacyContext]:
    idempotency = IdempotencyStore(rt.pool)
    formulary = load_formulary()
    directory, runner = await directory_runner(rt, on_erased=notes.erase)
    courses = handlers.command_handler(rt.store, formulary)
    return Started(PharmacyContext(rt, idempotency, directory, courses, formulary), [runner.run])


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), title="carecoord pharmacy",
                              description="Medication courses, dose adjustments and adverse effects.",
                              routers=[api.router, access_log_router()], on_start=_start)
