"""``/metrics`` on a service app: the middleware that counts requests and commands, and the
route that renders the app's registry plus what it reads from the running service."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from shared.metrics.http import MetricsMiddleware
from shared.metrics.registry import ServiceMetrics
from shared.metrics.scrape import Scrape, runtime_families


def install_metrics(app: FastAPI, service: str, *, clinics: Iterable[str] = (), version: str = "") -> ServiceMetrics:
    """Add the middleware and ``GET /metrics`` to ``app`` (before it starts)."""
    metrics = ServiceMetrics(service, clinics=clinics, version=version)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(_metrics_router())
    return metrics


def _metrics_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/metrics", summary="Prometheus metrics (text format)", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        state = request.app.state
        runtime = getattr(state, "runtime", None)
        families = await runtime_families(runtime, getattr(state, "context", None)) if runtime is not None else []
        body = generate_latest(Scrape(state.metrics.registry, families))
        # The classic text format, which every Prometheus (and agent) reads; our names need
        # nothing newer.
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return router
