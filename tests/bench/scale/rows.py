"""Pure helpers of the scale benchmark: realistic pharmacy courses as binary COPY rows for the
kernel's ``events`` table, and nearest-rank percentiles.

A course is one stream: ``MedicationStarted`` then ``DoseAdjusted`` events, made once by the
pharmacy decider (so every payload is one the service's registry decodes) and then stamped
with each course's own ids. Binary COPY (PostgreSQL's ``PGCOPY`` format) lets the database
take millions of such rows without parsing text or running the append function; the hash
column holds any 32 bytes (the chain is not what is measured when the store is filled).
"""

from __future__ import annotations

import math
import os
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.pharmacy.domain import INITIAL_STATE, AdjustDose, CourseState, StartMedication, decide, evolve
from services.pharmacy.domain.values import DrugRef, Schedule
from services.pharmacy.domain.vocabulary import Indication
from services.pharmacy.formulary import Formulary
from shared.envelope import canonical_payload, event_type
from shared.events import DomainEvent

SERVICE = "pharmacy"
CLINIC = "bench-clinic"
COURSE_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# Placeholders in the template payloads, replaced by each course's ids (UUID-shaped, so the
# template decodes as a real course would).
PATIENT_MARK = "00000000-0000-4000-8000-0000000a11ce"
COURSE_MARK = "00000000-0000-4000-8000-00000000c0de"
# The events table's columns COPY fills; global_position (identity) and any column a later
# migration adds with a default are left to the database.
COLUMNS = ("event_id", "stream_id", "stream_version", "event_type", "source", "subject", "clinic_id",
           "occurred_at", "recorded_at", "correlation_id", "causation_id", "actor", "traceparent",
           "payload", "hash")
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def course_events(length: int, patient_id: str, medication_id: str, formulary: Formulary,
                  start: datetime = COURSE_START) -> list[DomainEvent]:
    """``length`` events of one sertraline course as the decider makes them: a start, then
    doses alternating 50 <-> 100 mg, one change a day."""
    state: CourseState = INITIAL_STATE
    out: list[DomainEvent] = []
    commands: list[StartMedication | AdjustDose] = [StartMedication(
        patient_id=patient_id, medication_id=medication_id, drug=DrugRef(code="36437", system="RxNorm"),
        dose=50, unit="mg", schedule=Schedule(times_per_day=1), route="oral",
        indication=Indication(code="F32.1"), started_at=start, prescriber_id="staff-0042")]
    commands += [AdjustDose(patient_id=patient_id, medication_id=medication_id, dose=100 if k % 2 else 50,
                            unit="mg", reason="titration", effective_at=start + timedelta(days=k),
                            prescriber_id="staff-0042") for k in range(1, length)]
    for cmd in commands:
        for event in decide(state, cmd, formulary):
            state = evolve(state, event)
            out.append(event)
    return out


def course_ids(k: int, per_patient: int = 2) -> tuple[str, str]:
    """(patient id, medication id) of course number ``k``: deterministic, so a later step can
    address any course filled earlier; ``per_patient`` courses share a patient."""
    return str(uuid.UUID(int=(1 << 124) | k // per_patient)), str(uuid.UUID(int=(2 << 124) | k))


def stream_of(medication_id: str) -> str:
    return f"medication-{medication_id}"


def _text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!i", len(raw)) + raw


def _timestamp(moment: datetime) -> bytes:
    delta = moment - PG_EPOCH
    return struct.pack("!iq", 8, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


@dataclass(frozen=True)
class CourseTemplate:
    """One course's events with every constant field already encoded for COPY."""

    events: tuple[tuple[bytes, bytes, str], ...]  # (type+source field bytes, occurred_at field, payload JSON)

    @classmethod
    def make(cls, length: int, formulary: Formulary) -> CourseTemplate:
        events = []
        for e in course_events(length, PATIENT_MARK, COURSE_MARK, formulary):
            events.append((_text(event_type(SERVICE, e.event_name, e.version)) + _text(f"/carecoord/{SERVICE}"),
                           _timestamp(e.occurred_at), canonical_payload(e.model_dump(mode="json"))))
        return cls(tuple(events))

    def __len__(self) -> int:
        return len(self.events)


NULL = struct.pack("!i", -1)
_FIELDS = struct.pack("!h", len(COLUMNS))
_UUID = struct.pack("!i", 16)
_HASH = struct.pack("!i", 32)
_CLINIC = _text(CLINIC)
_ACTOR = _text("staff-0042")
_RECORDED_STEP_US = 1_000  # recorded_at advances 1 ms a row: a past, monotonic history


def course_rows(template: CourseTemplate, first: int, count: int, recorded_from: datetime,
                position: int) -> bytes:
    """Binary COPY rows (no header or trailer) of courses ``first`` .. ``first + count - 1``;
    ``position`` numbers the first row in the store, for its recorded_at."""
    delta = recorded_from - PG_EPOCH
    recorded0 = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    pack_int, pack_ts = struct.Struct("!ii").pack, struct.Struct("!iq").pack
    parts: list[bytes] = []
    row = position
    for k in range(first, first + count):
        patient, medication = course_ids(k)
        stream = _text(stream_of(medication))
        subject = _text(patient)
        correlation = _text(str(uuid.UUID(bytes=os.urandom(16), version=4)))
        for version, (type_source, occurred, payload) in enumerate(template.events, start=1):
            event_id = os.urandom(16)
            body = b"\x01" + payload.replace(PATIENT_MARK, patient).replace(COURSE_MARK, medication).encode()
            parts.append(b"".join((
                _FIELDS, _UUID, event_id, stream, pack_int(4, version), type_source, subject, _CLINIC, occurred,
                pack_ts(8, recorded0 + row * _RECORDED_STEP_US), correlation, NULL, _ACTOR, NULL,
                struct.pack("!i", len(body)), body, _HASH, event_id, event_id)))
            row += 1
    return b"".join(parts)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def k(n: float) -> str:
    """A count as people write it, three figures at most: 10,000 -> 10k, 1,062,080 -> 1.06M."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.3g}M"
    if n >= 1_000:
        return f"{n / 1_000:.3g}k"
    return f"{n:,.0f}"
