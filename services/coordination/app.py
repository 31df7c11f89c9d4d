"""The coordination service: one timeline and one live summary per patient from every
service's events, the team's decisions (escalations, reviews, case conferences), and the risk
flags the rules raise from them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from services.coordination import api, handlers, reads, status, streams
from services.coordination.audit import access as audit_access
from services.coordination.audit import history as audit_history
from services.coordination.deps import CoordinationContext
from services.coordination.fhir.api import router as fhir_router
from services.coordination.fhir.worker import ExportWorker
from services.coordination.flag_api import router as acknowledgement_router
from services.coordination.flag_reads import router as flag_router
from services.coordination.flagging.evaluation import Flagging
from services.coordination.flagging.tick import RulesTick
from services.coordination.projection.store import CoordinationProjection
from services.coordination.registry.api import router as registry_router
from services.coordination.rules import RulesConfig, load_config
from services.coordination.settings import CoordinationSettings, coordination_settings
from services.coordination.ui import ui_router
from shared.access_log_api import access_log_router
from shared.directory import PatientDirectory
from shared.idempotency import IdempotencyStore
from shared.kafka.clients import ensure_topics
from shared.projection import ProjectionRunner
from shared.retry import Backoff, Stopped, retrying
from shared.service import Runtime, Started, Task, create_service_app
from shared.settings import ServiceSettings

Settings = CoordinationSettings

SOURCES = ("assessment", "pharmacy", "therapy")


def rules_config(s: CoordinationSettings) -> RulesConfig:
    """The thresholds, checked now: a clinic's typo stops the start, not a patient's evaluation."""
    return load_config(Path(s.rules_thresholds_file).read_text(encoding="utf-8") if s.rules_thresholds_file
                       else None)


def projection_runner(rt: Runtime, flagging: Flagging | None = None) -> ProjectionRunner:
    """Consumer group ``coordination`` over the three clinical topics and coordination's own:
    timeline, summaries, the patient directory and (with ``flagging``) the flags in one
    transaction per batch."""
    s = rt.settings
    return ProjectionRunner(
        pool=rt.pool, bootstrap_servers=s.kafka_bootstrap_servers, group_id=f"{s.topic_namespace}coordination",
        topics=[*(s.topic(source) for source in SOURCES), s.topic()],
        projection=CoordinationProjection(handlers.registry(), flagging),
        partitions=s.topic_partitions, replication=s.topic_replication_factor,
        min_insync=s.topic_min_insync_replicas, trace_links=s.telemetry_exporter != "off")


def _flags_topic_then(s: ServiceSettings, run: Task) -> Task:
    """The public flags topic exists before anything waits on it (the relay publishes each outbox
    row to its row's topic but creates only the service's own); then ``run``."""

    async def task(stop: asyncio.Event) -> None:
        try:
            await retrying(lambda: ensure_topics(s.kafka_bootstrap_servers, [s.topic(kind="flags")],
                                                 s.topic_partitions, s.topic_replication_factor,
                                                 min_insync=s.topic_min_insync_replicas),
                           retry_on=(Exception,), stop=stop, backoff=Backoff(0.5, 5.0),
                           what="creating the flags topic")
        except Stopped:
            return
        await run(stop)

    return task


async def _start(rt: Runtime) -> Started[CoordinationContext]:
    s = coordination_settings(rt.settings)
    config = rules_config(s)
    flagging = Flagging(rt.store, s.topic(kind="flags"), config)
    idempotency = IdempotencyStore(rt.pool)  # tables: the lifespan migrated the database
    runner = projection_runner(rt, flagging)
    rt.consumers.append(runner)  # /ready reports it
    tick = RulesTick(rt.pool, flagging, s.rules_tick_seconds, s.rules_tick_batch)
    directory = PatientDirectory(rt.pool, rt.settings.directory_miss_wait_seconds)
    context = CoordinationContext(rt, idempotency, directory, handlers.command_handler(rt.store),
                                  runner, flagging, tick)
    return Started(context, [runner.run, _flags_topic_then(s, tick.run), ExportWorker(rt.pool).run])


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(coordination_settings(settings or Settings()), title="carecoord coordination",
                              description="One timeline and one live summary per patient; the team's decisions; "
                                          "risk flags from the rules.",
                              # coordination's GET /v1/audit/access merges all four services' logs
                              routers=[audit_history.router, audit_access.router, reads.router, api.router, flag_router,
                                       acknowledgement_router, status.router,
                                       streams.router, registry_router, fhir_router,
                                       access_log_router(audit_access=False), ui_router()],
                              on_start=_start)
