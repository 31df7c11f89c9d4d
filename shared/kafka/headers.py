"""CloudEvents 1.0 Kafka protocol binding, binary content mode.

The record value is the payload JSON; every attribute travels as a ``ce_`` header. The
record key is the patient id so one patient's events keep their order in a partition.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from shared.envelope import CONTENT_TYPE, SPEC_VERSION, Envelope

Headers = list[tuple[str, bytes]]
_SPEC = SPEC_VERSION.encode()
_CONTENT_TYPE = CONTENT_TYPE.encode()


class EnvelopeDecodeError(ValueError):
    """A record is not a well-formed carecoord CloudEvent."""


def _iso(dt: datetime | None) -> bytes:
    return b"" if dt is None else dt.isoformat().encode()


def encode(env: Envelope, value: bytes | None = None) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) of the Kafka record for ``env``; ``value`` is the payload's
    JSON when the caller has it serialised already (the relay reads it from the store)."""
    key, headers = encode_attributes(
        id=env.id, source=env.source, type=env.type, time=env.time, subject=env.subject,
        clinic_id=env.clinic_id, stream_id=env.stream_id, stream_version=env.stream_version,
        recorded_at=env.recorded_at, hash=env.hash, correlation_id=env.correlation_id,
        causation_id=env.causation_id, actor=env.actor, traceparent=env.traceparent)
    value_bytes = value if value is not None else json.dumps(
        env.payload, separators=(",", ":"), ensure_ascii=False).encode()
    return key, value_bytes, headers


def encode_attributes(*, id: uuid.UUID, source: str, type: str, time: datetime, subject: str, clinic_id: str,
                      stream_id: str, stream_version: int | None, recorded_at: datetime | None,
                      hash: bytes | None, correlation_id: str | None, causation_id: str | None,
                      actor: str | None, traceparent: str | None) -> tuple[bytes, Headers]:
    """The record key and headers of an event's attributes. The relay calls this with a stored
    row's columns directly: building an Envelope per event only to take it apart again cost it
    as much as producing the record."""
    key = subject.encode()
    headers: Headers = [
        ("ce_specversion", _SPEC),
        ("ce_id", str(id).encode()),
        ("ce_source", source.encode()),
        ("ce_type", type.encode()),
        ("ce_time", _iso(time)),
        ("ce_subject", key),
        ("ce_partitionkey", key),
        ("ce_clinicid", clinic_id.encode()),
        ("ce_streamid", stream_id.encode()),
        ("ce_sequence", str(stream_version).encode()),
        ("ce_recordedat", _iso(recorded_at)),
        ("content-type", _CONTENT_TYPE),
    ]
    if hash is not None:
        # The chain hash as stored: a copy outside the database, so a row edited and its chain
        # recomputed by someone with database access no longer matches what was published.
        headers.append(("ce_hash", hash.hex().encode()))
    for name, attr in (("ce_correlationid", correlation_id),
                        ("ce_causationid", causation_id),
                        ("ce_actor", actor),
                        ("traceparent", traceparent)):
        if attr:
            headers.append((name, attr.encode()))
    return key, headers


def decode(value: bytes | None, headers: Sequence[tuple[str, bytes | None]] | None) -> Envelope:
    # Kafka allows a header without a value; for a required attribute that is "missing".
    h = {k: v.decode("utf-8", "replace") for k, v in headers or () if v is not None}
    try:
        if h.get("ce_specversion") != SPEC_VERSION:
            raise EnvelopeDecodeError("missing or unsupported ce_specversion")
        payload = json.loads(value or b"")
        if not isinstance(payload, dict):
            raise EnvelopeDecodeError("payload is not a JSON object")
        recorded = h.get("ce_recordedat")
        return Envelope(
            id=uuid.UUID(h["ce_id"]),
            source=h["ce_source"],
            type=h["ce_type"],
            subject=h["ce_subject"],
            time=datetime.fromisoformat(h["ce_time"]),
            clinic_id=h["ce_clinicid"],
            stream_id=h.get("ce_streamid", h["ce_subject"]),
            payload=payload,
            stream_version=int(h.get("ce_sequence", "0")),
            recorded_at=datetime.fromisoformat(recorded) if recorded else None,
            correlation_id=h.get("ce_correlationid"),
            causation_id=h.get("ce_causationid"),
            actor=h.get("ce_actor"),
            traceparent=h.get("traceparent"),
            hash=bytes.fromhex(h["ce_hash"]) if h.get("ce_hash") else None,
        )
    except KeyError as exc:
        raise EnvelopeDecodeError(f"missing header {exc.args[0]}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, EnvelopeDecodeError):
            raise
        # The message of a parse error may quote the input; say only what kind failed.
        raise EnvelopeDecodeError(f"malformed record: {type(exc).__name__}") from None
