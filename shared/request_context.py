"""Metadata of the command a request carries: who, which correlation, which trace."""

from __future__ import annotations

import uuid

from fastapi import Request

from shared.auth import Principal
from shared.envelope import Metadata
from shared.telemetry import current_traceparent

CORRELATION_HEADER = "X-Correlation-Id"


def correlation_id(header: str | None) -> str:
    """The client's correlation id when it is a UUID (in canonical form), otherwise a new one:
    it travels on the event to Kafka, which keeps it for ever, so it may not carry anything a
    client typed (a name, a case number) that could never be erased."""
    if header:
        try:
            return str(uuid.UUID(header.strip()))
        except ValueError:
            pass
    return str(uuid.uuid4())


def command_metadata(request: Request, principal: Principal) -> Metadata:
    return Metadata(actor=principal.staff_id, correlation_id=correlation_id(request.headers.get(CORRELATION_HEADER)),
                    traceparent=current_traceparent())
