"""Refused attempts on a patient path, recorded for the auditors in every service.

A plain ASGI middleware: when a request to a route with a ``{patient_id}`` is answered 401,
403 or 404, one access-log row is written before the answer leaves (``outcome`` 'refused', the
status, method and route template, the caller when the token verified, the patient's clinic
when the patient exists). It sits on the shared request path, so every service and every route
gets it without a line in the route. The row holds nothing of the request but the patient id:
no body, no query, no token.

The caller is found again from the ``Authorization`` header with the app's own verifier
(without the rate limiter: the refused request has already been counted). Every 404 of a
patient path takes the same steps (one directory read, one insert) whether the patient is
unknown or another clinic's, so the log adds no difference an outsider could time. A failure to
write is logged (its class only) and never changes the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access_log import Refusal, record_refusal
from shared.auth import AuthError, Principal
from shared.telemetry.http import route_template

log = logging.getLogger(__name__)

REFUSED = frozenset({401, 403, 404})
PATIENT_PARAM = "patient_id"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


async def caller(app: Any, scope: Scope) -> Principal | None:
    """Who sent the request, if its token verifies with the app's authenticator's config."""
    authenticator = getattr(app.state, "authenticator", None)
    token = _bearer(scope)
    if authenticator is None or token is None or len(token) > authenticator.config.max_token_bytes:
        return None
    try:
        principal: Principal = await authenticator.verify(token)  # its cache of verified tokens
    except AuthError:
        return None
    return principal


def refused_patient(scope: Scope, status: int) -> str | None:
    """The patient id of a refused request to a patient route; None for anything else."""
    if status not in REFUSED:
        return None
    patient = (scope.get("path_params") or {}).get(PATIENT_PARAM)
    return patient if isinstance(patient, str) and patient else None


class RefusalLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root_path_before = scope.get("root_path", "") or ""

        async def send_after_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                patient = refused_patient(scope, int(message["status"]))
                if patient is not None:
                    await self._record(scope, patient, int(message["status"]), root_path_before)
            await send(message)

        await self.app(scope, receive, send_after_record)

    async def _record(self, scope: Scope, patient_id: str, status: int, root_path_before: str) -> None:
        app = scope.get("app")
        runtime = getattr(getattr(app, "state", None), "runtime", None)
        if runtime is None:  # not started (a unit test's app): nothing to write to
            return
        try:
            endpoint = f"{scope.get('method', 'GET')} {route_template(scope, root_path_before) or '?'}"
            principal = await caller(app, scope)
            clinic = await runtime.pool.fetchval(
                "SELECT clinic_id FROM patient_directory WHERE patient_id = $1", patient_id)
            await record_refusal(runtime.pool, Refusal(principal, clinic, patient_id, endpoint, status))
        except Exception as exc:
            log.warning("refused attempt not recorded", extra={"error_type": type(exc).__name__, "status": status})
