"""The therapy service's app factory."""

from __future__ import annotations

from fastapi import FastAPI

from shared.directory import directory_runner
from shared.idempotency import IdempotencyStore
from shared.service import Runtime, ServiceContext, Started, create_service_app
from shared.settings import ServiceSettings, settings_for

Settings = settings_for("therapy")


async def _start(rt: Runtime) -> Started[ServiceContext]:
    idempotency = IdempotencyStore(rt.pool)
    await idempotency.migrate()
    directory, runner = await directory_runner(rt)
    return Started(ServiceContext(rt, idempotency, directory), [runner.run])


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), title="carecoord therapy", on_start=_start)
