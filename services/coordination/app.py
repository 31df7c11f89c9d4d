"""The coordination service: one timeline and one live summary per patient from every
service's events, and the team's decisions (escalations, reviews, case conferences)."""

from __future__ import annotations

from fastapi import FastAPI

from services.coordination import api, handlers, reads, status, streams
from services.coordination.deps import CoordinationContext
from services.coordination.projection.store import CoordinationProjection
from shared.access_log_api import access_log_router
from shared.directory import PatientDirectory
from shared.idempotency import IdempotencyStore
from shared.projection import ProjectionRunner
from shared.service import Runtime, Started, create_service_app
from shared.settings import ServiceSettings, settings_for

Settings = settings_for("coordination")

SOURCES = ("assessment", "pharmacy", "therapy")


def projection_runner(rt: Runtime) -> ProjectionRunner:
    """Consumer group ``coordination`` over the three clinical topics and coordination's own:
    timeline, summaries and the patient directory in one transaction per batch."""
    s = rt.settings
    return ProjectionRunner(
        pool=rt.pool, bootstrap_servers=s.kafka_bootstrap_servers, group_id=f"{s.topic_namespace}coordination",
        topics=[*(s.topic(source) for source in SOURCES), s.topic()],
        projection=CoordinationProjection(handlers.registry()),
        partitions=s.topic_partitions, replication=s.topic_replication_factor,
        min_insync=s.topic_min_insync_replicas, trace_links=s.telemetry_exporter != "off")


async def _start(rt: Runtime) -> Started[CoordinationContext]:
    idempotency = IdempotencyStore(rt.pool)  # tables: the lifespan migrated the database
    runner = projection_runner(rt)
    rt.consumers.append(runner)  # /ready reports it
    context = CoordinationContext(rt, idempotency, PatientDirectory(rt.pool), handlers.command_handler(rt.store),
                                  runner)
    return Started(context, [runner.run])


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), title="carecoord coordination",
                              description="One timeline and one live summary per patient; the team's decisions.",
                              routers=[reads.router, api.router, status.router, streams.router, access_log_router()],
                              on_start=_start)
