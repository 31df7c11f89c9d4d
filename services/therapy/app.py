"""The therapy service: episodes of psychotherapy, their sessions, modality and care steps."""

from __future__ import annotations

from fastapi import FastAPI

from services.therapy import api, handlers
from services.therapy.deps import TherapyContext
from shared.access_log_api import access_log_router
from shared.directory import directory_runner
from shared.idempotency import IdempotencyStore
from shared.service import Runtime, Started, create_service_app
from shared.settings import ServiceSettings, settings_for

Settings = settings_for("therapy")


async def _start(rt: Runtime) -> Started[TherapyContext]:
    idempotency = IdempotencyStore(rt.pool)
    directory, runner = await directory_runner(rt)
    episodes = handlers.command_handler(rt.store)
    return Started(TherapyContext(rt, idempotency, directory, episodes), [runner.run])


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), title="carecoord therapy",
                              description="Episodes of psychotherapy: sessions, modality and care-step changes.",
                              routers=[api.router, access_log_router()], on_start=_start)
