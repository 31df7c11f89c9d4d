"""HTTP and command metrics, recorded by one ASGI middleware per app.

Labels hold what is bounded and free of patient data: the route *template* (never the
concrete path, which carries patient ids), the method, the status code, the operation name
of a command route, an outcome and a reason class. A clinic id is a label value only for
clinics an operator listed (``metrics_clinics``); every other clinic counts as ``other``.

Code deeper down tells the middleware why a command was refused or which clinic it is
about through a per-request note (:mod:`shared.metrics.note`).
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import Conflict, DomainError, NotFound
from shared.eventstore.base import ConcurrencyError
from shared.metrics import note as notes
from shared.metrics.note import RequestNote
from shared.metrics.registry import ServiceMetrics
from shared.telemetry.http import route_template

UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404 by the router)
_COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STATUS_REASONS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                   409: "invalid_state", 413: "too_large", 415: "unsupported_media_type",
                   422: "validation", 428: "precondition_required", 429: "rate_limited"}


def command_outcome(status: int, note: RequestNote) -> tuple[str, str]:
    """(outcome, reason) of a command request from its status and what was noted."""
    if status < 400:
        return "accepted", "none"
    if note.conflict:
        return "conflict", note.reason or "version_conflict"
    if status < 500:
        return "refused", note.reason or _STATUS_REASONS.get(status, "client_error")
    return "failed", "unavailable" if status == 503 else "error"


class MetricsMiddleware:
    """Plain ASGI (like the span middleware): it sees unhandled exceptions and the matched route."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "HTTP"))
        root_path_before = scope.get("root_path", "") or ""
        status = 500
        note, token = notes.begin()
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except BaseException:
            status = 500
            raise
        finally:
            notes.end(token)
            elapsed = time.perf_counter() - started
            route = route_template(scope, root_path_before)
            self.metrics.observe_request(route or UNMATCHED, method, status, elapsed)
            if route is not None and method in _COMMAND_METHODS:
                outcome, reason = command_outcome(status, note)
                self.metrics.count_command(_operation(scope), outcome, reason, note.clinic)


def _operation(scope: Scope) -> str:
    """The command route's operation name (its endpoint's name: ``adjust``, ``enroll``)."""
    name = getattr(scope.get("route"), "name", None)
    return name if isinstance(name, str) and name else "unknown"


def refusal_reason(exc: DomainError) -> tuple[str, bool]:
    """(reason class, whether it is a concurrent writer's conflict) of a domain refusal."""
    if isinstance(exc, ConcurrencyError):
        return "version_conflict", True
    if isinstance(exc, NotFound):
        return "not_found", False
    if isinstance(exc, Conflict):
        return "invalid_state", False
    return "rule_violation", False
