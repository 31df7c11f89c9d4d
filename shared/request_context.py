"""Metadata of the command a request carries: who, which correlation, which trace."""

from __future__ import annotations

import uuid

from fastapi import Request

from shared.auth import Principal
from shared.envelope import Metadata
from shared.telemetry import current_traceparent

CORRELATION_HEADER = "X-Correlation-Id"


def command_metadata(request: Request, principal: Principal) -> Metadata:
    correlation = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
    return Metadata(actor=principal.staff_id, correlation_id=correlation[:100],
                    traceparent=current_traceparent())
