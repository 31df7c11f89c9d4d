"""Events as they were published, kept for the auditors (table ``audit_events``).

The projection writes one row per event it applies, in its own transaction, with the envelope
as received (metadata and the payload as the producer stored it) and the ``ce_hash`` it came
with; :func:`envelope_of` gives the same envelope back, so the history can recompute each
stream's chain (``shared.envelope.chain_hash``) exactly as the producer's store computed it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.envelope import Envelope

INSERT = """
INSERT INTO audit_events (event_id, patient_id, clinic_id, service, stream_id, sequence, recorded_at, envelope, hash)
SELECT e, p, c, sv, st, q, r, j::jsonb, h
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[],
            $8::text[], $9::bytea[]) AS u(e, p, c, sv, st, q, r, j, h)
ON CONFLICT ON CONSTRAINT audit_events_pkey DO NOTHING
"""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def envelope_json(env: Envelope) -> dict[str, Any]:
    """Everything the chain hash covers, as received (times in the zone they came in)."""
    return {"id": str(env.id), "source": env.source, "type": env.type, "subject": env.subject,
            "time": _iso(env.time), "clinic_id": env.clinic_id, "stream_id": env.stream_id,
            "stream_version": env.stream_version, "recorded_at": _iso(env.recorded_at),
            "correlation_id": env.correlation_id, "causation_id": env.causation_id, "actor": env.actor,
            "payload": env.payload}


def envelope_of(doc: Mapping[str, Any], hash_: bytes | None) -> Envelope:
    recorded = doc.get("recorded_at")
    return Envelope(id=uuid.UUID(doc["id"]), source=doc["source"], type=doc["type"], subject=doc["subject"],
                    time=datetime.fromisoformat(doc["time"]), clinic_id=doc["clinic_id"],
                    stream_id=doc["stream_id"], payload=doc["payload"], stream_version=doc["stream_version"],
                    recorded_at=datetime.fromisoformat(recorded) if recorded else None,
                    correlation_id=doc.get("correlation_id"), causation_id=doc.get("causation_id"),
                    actor=doc.get("actor"), hash=hash_)


async def keep_published(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    """One row per event, in the caller's transaction (one round trip)."""
    if not events:
        return
    await conn.execute(
        INSERT, [e.id for e in events], [e.subject for e in events], [e.clinic_id for e in events],
        [e.service for e in events], [e.stream_id for e in events], [e.stream_version for e in events],
        [e.recorded_at or e.time for e in events],
        [json.dumps(envelope_json(e), separators=(",", ":"), ensure_ascii=False) for e in events],
        [e.hash for e in events])
