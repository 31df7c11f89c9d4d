"""The common shell of every service: pools, event store, relay, health, errors.

``create_service_app(settings, ...)`` builds a FastAPI app whose lifespan opens the
database pool, migrates, creates the service's topic, starts the outbox relay and any
background consumers, and stops them all on shutdown. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.access_audit import RefusalLog
from shared.audit.checkpoints import run_checkpoints
from shared.auth import AuthConfig, Authenticator, Principal, scope_to_clinic
from shared.db import create_pool
from shared.dberrors import DRIVER_ERRORS, is_environmental
from shared.directory import PatientDirectory, Visible
from shared.errors import DomainError
from shared.eventstore import PostgresEventStore
from shared.faultpoints import relay_after_ack
from shared.idempotency import Command, IdempotencyStore, ToBody, run_idempotent
from shared.kafka.clients import ensure_topics, kafka_ready
from shared.limits import Limits, RateLimiter, RequestLimits
from shared.metrics.app import install_metrics
from shared.metrics.http import refusal_reason
from shared.metrics.note import note_refusal
from shared.migrations import upgrade_pool
from shared.openapi_errors import document_errors
from shared.outbox import OutboxRelay
from shared.peers import peers_entry, read_status, upstream_services
from shared.projection.health import MonitoredConsumer
from shared.retry import Backoff, Stopped, retrying
from shared.schemas import storable
from shared.settings import ServiceSettings
from shared.telemetry import TelemetryConfig, instrument_app, setup_logging, setup_tracing

log = logging.getLogger(__name__)

Task = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Runtime:
    """What the lifespan built for every service: settings, pool, event store, relay."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    store: PostgresEventStore
    relay: OutboxRelay | None = None
    # Background consumers (projection runners) whose health ``/ready`` reports.
    consumers: list[MonitoredConsumer] = field(default_factory=list)


class Owners:
    """Which patient each recently addressed stream belongs to (its first event's subject),
    least recently used dropped. A stream's first event never changes, so an entry stays
    true in every instance; only streams that exist are kept."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._subjects: OrderedDict[str, str] = OrderedDict()

    def get(self, stream_id: str) -> str | None:
        subject = self._subjects.get(stream_id)
        if subject is not None:
            self._subjects.move_to_end(stream_id)
        return subject

    def put(self, stream_id: str, subject: str) -> None:
        self._subjects[stream_id] = subject
        self._subjects.move_to_end(stream_id)
        while len(self._subjects) > self.size:
            self._subjects.popitem(last=False)


@dataclass
class ServiceContext:
    """What the routes of every service need; each service extends it with its own parts
    (its command handler, say) and routes receive it through a typed dependency."""

    runtime: Runtime
    idempotency: IdempotencyStore
    directory: PatientDirectory
    owners: Owners = field(default_factory=Owners, init=False)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    @property
    def store(self) -> PostgresEventStore:
        return self.runtime.store


Ctx = TypeVar("Ctx", bound=ServiceContext)


@dataclass
class Started(Generic[Ctx]):
    """What a service's start hook built: its context and its background tasks."""

    context: Ctx
    tasks: Sequence[Task] = ()


StartHook = Callable[[Runtime], Awaitable[Started[Any]]]


def context_dependency(kind: type[Ctx]) -> Callable[[Request], Awaitable[Ctx]]:
    """A FastAPI dependency giving the running service's context as ``kind``; services
    alias it once: ``PharmacyDeps = Annotated[PharmacyContext, Depends(...)]``."""

    # async although it awaits nothing: FastAPI runs a plain function dependency in a worker
    # thread, a thread hand-off on every request for an attribute read.
    async def get(request: Request) -> Ctx:
        context = request.app.state.context
        if not isinstance(context, kind):
            raise TypeError(f"the running service's context is not a {kind.__name__}")
        return context

    return get


async def patient_clinic(ctx: ServiceContext, principal: Principal, patient_id: str) -> str:
    """The patient's clinic from the service's directory, provided the caller may see it;
    404 otherwise, the same (answer, queries and time) for a patient of another clinic as for
    none at all."""
    return (await patient_scope(ctx, principal, patient_id)).clinic


async def patient_scope(ctx: ServiceContext, principal: Principal, patient_id: str) -> Visible:
    """:func:`patient_clinic` with the erasure mark read in the same query (for commands)."""
    found = await ctx.directory.visible(patient_id, principal.clinic_ids)
    scope_to_clinic(principal, None if found is None else found.clinic)
    assert found is not None
    return found


async def run_command(request: Request, ctx: ServiceContext, principal: Principal, command: Command,
                      to_body: ToBody, status_code: int = 201) -> JSONResponse:
    """Run a command once per Idempotency-Key and answer with its body (or the stored one)."""
    return await run_idempotent(request, ctx.idempotency, principal.staff_id, command, to_body, status_code)


def auth_config(settings: ServiceSettings) -> AuthConfig:
    return AuthConfig(
        algorithm=settings.jwt_algorithm,
        hs256_secret=settings.jwt_secret,
        rs256_public_key=settings.jwt_public_key,
        jwks_url=settings.jwks_url,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        jwks_cache_seconds=settings.jwks_cache_seconds,
    )


def authenticator(settings: ServiceSettings) -> Authenticator:
    """The app's authenticator; a config that cannot verify safely (a short HS256 secret, say)
    stops the start here with the reason."""
    limiter = (RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
               if settings.rate_limit_per_second > 0 else None)
    return Authenticator(auth_config(settings), limiter)


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    on_start: StartHook,
    description: str = "",
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        telemetry = TelemetryConfig(service_name=settings.service_name,
                                    exporter=settings.telemetry_exporter,
                                    otlp_endpoint=settings.otlp_endpoint,
                                    sample_ratio=settings.telemetry_sample_ratio,
                                    log_level=settings.log_level)
        setup_tracing(telemetry)
        setup_logging(telemetry)
        pool = await create_pool(settings.database_url, settings.database_schema,
                                 settings.database_pool_size, settings.database_lock_timeout)
        # The schema is brought up to date before anything uses it (``carecoord db upgrade``
        # does the same as a deployment's pre-start step; then this finds nothing to do).
        await upgrade_pool(pool, settings.service_name)
        store = PostgresEventStore(pool, settings.topic())
        runtime = Runtime(settings, pool, store)
        stop = asyncio.Event()
        tasks: list[Task] = []
        started = await on_start(runtime)
        app.state.context = started.context
        if settings.relay_enabled:
            runtime.relay = OutboxRelay(pool, settings.kafka_bootstrap_servers,
                                        batch_size=settings.relay_batch_size,
                                        idle_seconds=settings.relay_idle_seconds,
                                        trace_each_event=settings.telemetry_exporter != "off",
                                        after_ack=relay_after_ack(settings.fault_points, settings.service_name))
            tasks.append(_with_topics(settings, runtime.relay.run))
        tasks.extend(started.tasks)
        if started.context.directory.miss_wait_seconds > 0:
            tasks.append(started.context.directory.listen)  # wakes lookups waiting for an enrolment
        if settings.audit_key:
            key = settings.audit_key.encode()
            tasks.append(lambda stop: run_checkpoints(pool, key, settings.audit_checkpoint_seconds, stop))
        app.state.runtime = runtime
        running: list[asyncio.Task[None]] = [asyncio.create_task(t(stop)) for t in tasks]
        try:
            yield
        finally:
            stop.set()
            if running:
                await asyncio.wait(running, timeout=10)
            for task in running:
                task.cancel()
            await pool.close()

    # FastAPI's own tracing records raw paths (patient ids); ours records route templates.
    # The API description is served only where enabled: it maps every route for a prober.
    docs = settings.api_docs_enabled
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  telemetry={"tracing": False, "logs": False}, openapi_url="/openapi.json" if docs else None,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None)
    app.state.authenticator = authenticator(settings)
    instrument_app(app, settings.service_name)
    install_metrics(app, settings.service_name, clinics=settings.metrics_clinics.split(","), version=app.version)
    app.add_middleware(RejectUnstorablePaths)
    app.add_middleware(RefusalLog)  # 401/403/404 on a patient path: an access-log row
    # Added last, so it runs first: sizes are refused before anything reads the request.
    app.add_middleware(RequestLimits, limits=Limits(settings.max_body_bytes, settings.max_header_bytes,
                                                    settings.max_json_depth, settings.max_json_array))
    _install_error_handlers(app)
    app.include_router(_health_router(settings.ready_cache_seconds))
    for router in routers:
        app.include_router(router)
    document_errors(app, public_paths=_PUBLIC_PATHS)
    return app


def _with_topics(settings: ServiceSettings, run: Task) -> Task:
    """Create the service's topic before relaying; wait for Kafka if it is not up yet."""

    async def task(stop: asyncio.Event) -> None:
        try:
            await retrying(lambda: ensure_topics(settings.kafka_bootstrap_servers, [settings.topic()],
                                                 settings.topic_partitions, settings.topic_replication_factor,
                                                 min_insync=settings.topic_min_insync_replicas),
                           retry_on=(Exception,), stop=stop, backoff=Backoff(0.5, 5.0),
                           what="creating the service's topic")
        except Stopped:
            return
        await run(stop)

    return task


class RejectUnstorablePaths:
    """Ids in paths go to PostgreSQL as text, which cannot hold NUL or lone surrogates; such
    a path names nothing that can exist, so it is answered 404 before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                storable(scope.get("path", ""))
            except ValueError:
                await JSONResponse({"detail": "not found"}, status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


_PUBLIC_PATHS = frozenset({"/health", "/ready"})  # no token: what a probe of the orchestrator calls


def _health_router(ready_cache_seconds: float) -> APIRouter:
    router = APIRouter(tags=["health"])
    readiness = _Readiness(ready_cache_seconds)

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", summary="Readiness: the database and Kafka answer, no consumer is dead or stuck",
                responses={503: {"description": "Not ready: the same body, naming what is unavailable",
                                 "content": {"application/json": {"schema": {}}}}})
    async def ready(request: Request) -> JSONResponse:
        body, ok = await readiness.get(request.app.state.runtime)
        return JSONResponse(body, status_code=200 if ok else 503)

    return router


class _Readiness:
    """The readiness checks, run at most once per ``max_age`` seconds however many probes
    arrive (concurrent probes share one run): unauthenticated callers cannot turn /ready into
    a stream of database and broker round trips."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._lock = asyncio.Lock()
        self._result: tuple[dict[str, Any], bool] | None = None
        self._at = float("-inf")

    async def get(self, runtime: Runtime) -> tuple[dict[str, Any], bool]:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._result is None or loop.time() - self._at >= self.max_age:
                self._result = await _check_readiness(runtime)
                self._at = loop.time()
            return self._result


async def _check_readiness(runtime: Runtime) -> tuple[dict[str, Any], bool]:
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(runtime.pool.fetchval("SELECT 1"), 3)
        checks["database"] = "ok"
    except Exception as exc:
        # The error's class goes to the log, not to an unauthenticated caller.
        log.warning("readiness: the database is unavailable", extra={"error_type": type(exc).__name__})
        checks["database"] = "unavailable"
    ok = await kafka_ready(runtime.settings.kafka_bootstrap_servers)
    checks["kafka"] = "ok" if ok else "unavailable"
    ready = all(v == "ok" for v in checks.values())
    # A consumer that died or keeps failing leaves read models stale (a patient unknown
    # here): not ready. One failing for a moment (a database failover) still is.
    # A failing consumer's error class stays in the logs and metrics: /ready is unauthenticated.
    reports = [await consumer.report() for consumer in runtime.consumers]
    checks["consumers"] = [{k: v for k, v in r.as_json().items() if k != "last_error_type"} for r in reports]
    ready = ready and all(r.ready for r in reports)
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    if runtime.settings.supervisor_status:
        # information beside the checks, never a reason to be unready (shared.peers)
        topics = [t for c in runtime.consumers for t in getattr(c, "topics", ())]
        upstream = upstream_services(topics, runtime.settings.service_name)
        body["peers"] = peers_entry(read_status(Path(runtime.settings.supervisor_status)), upstream)
    return body, ready


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        reason, conflict = refusal_reason(exc)
        note_refusal(reason, conflict=conflict)
        if exc.status_code == 422:
            loc = ["body", *exc.field.split(".")] if exc.field else ["body"]
            return JSONResponse({"detail": [{"loc": loc, "msg": exc.reason, "type": "rule_violation"}]},
                                status_code=422)
        body: dict[str, Any] = {"detail": exc.reason}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=exc.status_code)

    async def environment_error(_: Request, exc: Exception) -> JSONResponse:
        # A database in failover, read-only or out of locks: the request did nothing and a
        # retry will do; 503 says so (a 500 would say the service is broken). Only the
        # error's class is told: a driver's message may quote patient data.
        if not is_environmental(exc):
            raise exc
        log.warning("request refused: the database is unavailable", extra={"error_type": type(exc).__name__})
        return JSONResponse({"detail": "the service's database is unavailable; try again shortly"},
                            status_code=503, headers={"Retry-After": "1"})

    # Every driver error is_environmental may call the environment's (a connection cut mid-
    # query can surface as asyncpg's InternalClientError, no PostgresError nor OSError).
    for kind in DRIVER_ERRORS:
        app.add_exception_handler(kind, environment_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        note_refusal("validation")
        # FastAPI echoes the offending input by default; it may be patient data.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)
