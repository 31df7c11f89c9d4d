"""``GET /v1/audit/patients/{patient_id}/history``: every event about a patient from every
service, with its metadata and whether its hash chain holds.

Coordination consumes all four services' topics and keeps each event as published
(``audit_events``), so it can recompute every stream's chain without reading another service's
database. Besides those: the patient's flag events from coordination's own store (checked against
their stored chain) and events held back behind a gap (received, never applied: their
predecessor did not arrive). Ordered by recorded_at (knowledge time).

Auditors only, scoped to their clinics (another clinic's patient is answered like a missing
one); the read is logged before anything is sent. ``Accept: application/x-ndjson`` streams one
JSON object per line from a server-side cursor, so a long history is never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.coordination.deps import Context, CoordinationContext
from services.coordination.flagging.events import flag_stream
from shared.access_log import record_access
from shared.auth import Principal, Role, require_roles
from shared.envelope import Envelope, UnknownEventType
from shared.eventstore.postgres import _COLUMNS, row_to_envelope
from shared.kafka import headers as ce
from shared.service import patient_clinic

from .chain import STATUSES, ChainCheck, Status
from .published import envelope_of

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR))]

NDJSON = "application/x-ndjson"
PREFETCH = 500
PROJECTION = "coordination"  # the projection whose parked events are this service's

PUBLISHED = """
SELECT envelope, hash FROM audit_events WHERE patient_id = $1
ORDER BY recorded_at, service, stream_id, sequence
"""

PARKED = """
SELECT record_value, header_names, header_values FROM projection_parked
WHERE projection = $1 AND record_key = $2 ORDER BY source, stream_id, sequence
"""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def event_json(env: Envelope, status: Status, *, held_back: bool = False) -> dict[str, Any]:
    return {
        "event_id": str(env.id), "service": env.service, "type": env.type, "stream_id": env.stream_id,
        "sequence": env.stream_version, "occurred_at": _iso(env.time), "recorded_at": _iso(env.recorded_at),
        "actor": env.actor, "correlation_id": env.correlation_id, "causation_id": env.causation_id,
        "clinic_id": env.clinic_id, "source": env.source, "hash": env.hash.hex() if env.hash else None,
        "verification": status, "held_back": held_back, "payload": dict(env.payload),
    }


def _knowledge_time(env: Envelope) -> datetime:
    return env.recorded_at or env.time


async def _own_flag_events(conn: asyncpg.Connection, patient_id: str) -> list[Envelope]:
    """The patient's flag stream from coordination's own store (published on the flags topic,
    which coordination does not consume), in sequence order."""
    rows = await conn.fetch(f"SELECT global_position, {_COLUMNS} FROM events WHERE stream_id = $1 "
                            "ORDER BY stream_version", flag_stream(patient_id))
    return [row_to_envelope(r) for r in rows]


async def _held_back(conn: asyncpg.Connection, patient_id: str) -> list[Envelope]:
    """Events received but parked behind a gap in their stream (the record's key is the patient)."""
    rows = await conn.fetch(PARKED, PROJECTION, patient_id.encode())
    out = []
    for r in rows:
        try:
            env = ce.decode(r["record_value"], list(zip(r["header_names"], r["header_values"], strict=True)))
            env.service  # noqa: B018  (its type names a service, or it is not shown)
        except (ce.EnvelopeDecodeError, UnknownEventType):
            continue  # it decoded when parked; the runner dead-letters it on its next pass
        out.append(env)
    return out


async def history(conn: asyncpg.Connection, patient_id: str) -> AsyncIterator[dict[str, Any]]:
    """Every event about the patient, checked, in knowledge-time order; ``conn`` in a transaction."""
    check = ChainCheck()
    extras: list[tuple[datetime, Envelope, bool]] = [
        (_knowledge_time(e), e, False) for e in await _own_flag_events(conn, patient_id)]
    extras += [(_knowledge_time(e), e, True) for e in await _held_back(conn, patient_id)]
    extras.sort(key=lambda x: x[0])  # stable: a stream's own order is kept among equal times
    pending = iter(extras)
    extra = next(pending, None)

    def due(before: datetime | None) -> Iterator[dict[str, Any]]:
        nonlocal extra
        while extra is not None and (before is None or extra[0] <= before):
            _, env, held = extra
            yield event_json(env, "gap" if held else check.check(env), held_back=held)
            extra = next(pending, None)

    async for row in conn.cursor(PUBLISHED, patient_id, prefetch=PREFETCH):
        doc = row["envelope"]
        env = envelope_of(json.loads(doc) if isinstance(doc, str) else doc,
                          bytes(row["hash"]) if row["hash"] is not None else None)
        for item in due(_knowledge_time(env)):
            yield item
        yield event_json(env, check.check(env))
    for item in due(None):
        yield item


async def _ndjson(ctx: CoordinationContext, patient_id: str) -> AsyncIterator[bytes]:
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        async for item in history(conn, patient_id):
            yield json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


@router.get("/patients/{patient_id}/history",
            summary="Every event about the patient from every service, with its metadata and chain verification")
async def patient_history(patient_id: str, request: Request, ctx: Context, principal: Auditor) -> Any:
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, "read audit history")
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_ndjson(ctx, patient_id), media_type=NDJSON)
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        events = [item async for item in history(conn, patient_id)]
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for item in events:
        counts[item["verification"]] += 1
    return JSONResponse({"patient_id": patient_id, "clinic_id": clinic, "verification": counts, "events": events})
