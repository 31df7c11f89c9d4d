"""One server span per HTTP request, named by route template (the OpenTelemetry HTTP
server conventions: ``{method} {route}``, ``http.request.method``, ``http.route``,
``http.response.status_code``).

URLs here carry patient ids (``/patients/{patient_id}/...``), so the span records the
route *template*, the method and the status code, and nothing from the concrete path,
the query string or the body.

FastAPI's own built-in request tracing records ``url.path`` and ``url.query`` verbatim,
so :func:`instrument_app` switches it off for the app it instruments.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.telemetry.semconv import HTTP_METHOD, HTTP_ROUTE, HTTP_STATUS

_propagator = TraceContextTextMapPropagator()


def _incoming_headers(scope: Scope) -> dict[str, str]:
    wanted = {b"traceparent", b"tracestate"}
    return {
        key.decode("latin-1"): value.decode("latin-1")
        for key, value in scope.get("headers", [])
        if key.lower() in wanted
    }


def route_template(scope: Scope, root_path_before: str) -> str | None:
    """The matched route's path template, including include-router and mount prefixes.

    Returns ``None`` when no route matched: the caller then names the span by method
    alone rather than fall back to the concrete path.
    """
    template: str | None = None
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        # FastAPI keeps the full template of a route from an included router here;
        # ``scope["route"].path`` lacks the include prefix.
        effective = fastapi_scope.get("effective_route_context")
        candidate = getattr(effective, "path_format", None)
        if isinstance(candidate, str) and candidate:
            template = candidate
    if template is None:
        candidate = getattr(scope.get("route"), "path_format", None)
        if isinstance(candidate, str) and candidate:
            template = candidate
    if template is None:
        return None
    root_path = scope.get("root_path", "") or ""
    mount_prefix = ""
    if root_path.startswith(root_path_before):
        mount_prefix = root_path[len(root_path_before) :]
    return mount_prefix.rstrip("/") + template


class ServerSpanMiddleware:
    """Plain ASGI rather than ``BaseHTTPMiddleware``: it sees an unhandled exception
    itself (to mark the span failed) and the route the router picked (to name it)."""

    def __init__(self, app: ASGIApp, service_name: str) -> None:
        self.app = app
        self.tracer = trace.get_tracer(service_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "HTTP"))
        root_path_before = scope.get("root_path", "") or ""
        parent = _propagator.extract(_incoming_headers(scope))
        status_code: int | None = None
        failed = False

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={HTTP_METHOD: method},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, send_with_status)
            except BaseException as exc:
                # The type only: an exception message may carry request data.
                failed = True
                status_code = status_code or 500
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                route = route_template(scope, root_path_before)
                if route is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute(HTTP_ROUTE, route)
                if status_code is not None:
                    span.set_attribute(HTTP_STATUS, status_code)
                    if status_code >= 500 and not failed:
                        span.set_status(Status(StatusCode.ERROR))


def _disable_native_fastapi_tracing(app: Any) -> None:
    """Turn off FastAPI's built-in spans and exception logs for this app.

    Its request span stores the concrete path and query string, and its log records
    carry exception messages. The same switch is public as
    ``FastAPI(telemetry={"tracing": False, "logs": False})``; this covers apps built
    without it.
    """
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict):
        native["tracing"] = False
        native["logs"] = False


def instrument_app(app: Any, service_name: str) -> None:
    """Add the server-span middleware to a FastAPI/Starlette app before it starts."""
    _disable_native_fastapi_tracing(app)
    app.add_middleware(ServerSpanMiddleware, service_name=service_name)
