"""Poison records written onto the input topics with the admin's credentials: malformed (no
CloudEvents headers, or a body that is no JSON), of an unknown type (a well-formed envelope
from the topic's owner naming an event nobody knows), and oversized (256 KiB that are no
event). Each carries a ``chaos_poison`` header with its own id, so the dead-letter topics can
be searched for every one of them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from shared.kafka.clients import make_producer

KINDS = ("malformed", "unknown_type", "oversized")
OVERSIZED = 256 * 1024
HEADER = "chaos_poison"


def _record(kind: str, owner: str, n: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    poison_id = str(uuid.uuid4())
    subject = f"poison-{n}"
    mark = [(HEADER, poison_id.encode()), ("chaos_poison_kind", kind.encode())]
    if kind == "malformed":
        value = b'{"not": "an envelope"' if n % 2 else b"\xff\xfe not json"
        headers = [("ce_specversion", b"1.0"), ("ce_type", b"carecoord.nothing")] if n % 2 else []
        return subject.encode(), value, headers + mark
    now = datetime.now(UTC).isoformat().encode()
    headers = [("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
               ("ce_source", f"/carecoord/{owner}".encode()), ("ce_time", now), ("ce_subject", subject.encode()),
               ("ce_clinicid", b"clinic-a"), ("ce_streamid", subject.encode()), ("ce_sequence", b"1"),
               ("ce_recordedat", now), ("content-type", b"application/json")]
    if kind == "unknown_type":
        headers.append(("ce_type", f"carecoord.{owner}.NoSuchEvent.v1".encode()))
        return subject.encode(), b'{"patient_id": "' + subject.encode() + b'"}', headers + mark
    headers.append(("ce_type", f"carecoord.{owner}.PatientEnrolled.v1".encode()))
    return subject.encode(), b"[" + b"0," * (OVERSIZED // 2) + b"", headers + mark  # truncated JSON, 256 KiB


async def inject(bootstrap: str, topics: dict[str, str], count: int = 1000) -> dict[str, dict[str, str]]:
    """``count`` poison records spread over ``topics`` (owner service -> topic), kinds in turn
    (one in ten oversized); returns topic -> {poison id: kind}."""
    producer = make_producer(bootstrap, max_request_size=2 * 1024 * 1024)
    await producer.start()
    written: dict[str, dict[str, str]] = {t: {} for t in topics.values()}
    try:
        futures = []
        owners = list(topics)
        for n in range(count):
            owner = owners[n % len(owners)]
            kind = "oversized" if n % 10 == 9 else KINDS[n % 2]
            key, value, headers = _record(kind, owner, n)
            written[topics[owner]][dict(headers)[HEADER].decode()] = kind
            futures.append(await producer.send(topics[owner], value=value, key=key, headers=headers))
            if len(futures) >= 200:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return written
