"""The scale benchmark's pure helpers: COPY rows that decode as the courses they claim to be,
nearest-rank percentiles, resident-set sums over a process tree."""

from __future__ import annotations

import json
import math
import struct
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.pharmacy.domain import DoseAdjusted, MedicationStarted
from services.pharmacy.formulary import load_formulary
from services.pharmacy.handlers import registry
from shared.envelope import Envelope
from tests.bench.scale.memory import rss_bytes
from tests.bench.scale.rows import (
    COLUMNS,
    COPY_HEADER,
    PG_EPOCH,
    CourseTemplate,
    course_events,
    course_ids,
    course_rows,
    k,
    percentile,
    stream_of,
)

RECORDED_FROM = datetime(2025, 6, 1, tzinfo=UTC)


def parse_rows(data: bytes) -> list[list[bytes | None]]:
    """PostgreSQL's binary COPY tuples, each field's raw bytes (None for NULL)."""
    rows, at = [], 0
    while at < len(data):
        (count,) = struct.unpack_from("!h", data, at)
        at += 2
        fields: list[bytes | None] = []
        for _ in range(count):
            (length,) = struct.unpack_from("!i", data, at)
            at += 4
            if length < 0:
                fields.append(None)
            else:
                fields.append(data[at:at + length])
                at += length
        rows.append(fields)
    return rows


def timestamp(raw: bytes | None) -> datetime:
    assert raw is not None
    return PG_EPOCH + timedelta(microseconds=struct.unpack("!q", raw)[0])


def test_course_events_start_then_alternate_doses() -> None:
    events = course_events(5, "p-1", "m-1", load_formulary())
    assert isinstance(events[0], MedicationStarted)
    assert [e.dose for e in events[1:] if isinstance(e, DoseAdjusted)] == [100, 50, 100, 50]
    assert all(e.patient_id == "p-1" and e.medication_id == "m-1" for e in events)  # type: ignore[attr-defined]


def test_copy_rows_are_the_courses_they_name() -> None:
    template = CourseTemplate.make(4, load_formulary())
    data = course_rows(template, first=7, count=3, recorded_from=RECORDED_FROM, position=100)
    rows = parse_rows(data)
    assert len(rows) == 12 and all(len(r) == len(COLUMNS) for r in rows)
    col = {name: i for i, name in enumerate(COLUMNS)}
    reg = registry()
    for n, row in enumerate(rows):
        patient, medication = course_ids(7 + n // 4)
        assert row[col["stream_id"]] == stream_of(medication).encode()
        assert row[col["subject"]] == patient.encode()
        assert struct.unpack("!i", row[col["stream_version"]] or b"")[0] == n % 4 + 1
        assert timestamp(row[col["recorded_at"]]) == RECORDED_FROM + timedelta(milliseconds=100 + n)
        assert len(row[col["hash"]] or b"") == 32 and len(row[col["event_id"]] or b"") == 16
        assert row[col["causation_id"]] is None
        payload = row[col["payload"]] or b""
        assert payload[:1] == b"\x01"  # jsonb's binary format version
        envelope = Envelope(id=uuid.UUID(bytes=row[col["event_id"]] or b""),
                            source=(row[col["source"]] or b"").decode(),
                            type=(row[col["event_type"]] or b"").decode(), subject=patient, clinic_id="c",
                            time=timestamp(row[col["occurred_at"]]), stream_id=stream_of(medication),
                            payload=json.loads(payload[1:]))
        event = reg.decode(envelope)
        assert isinstance(event, MedicationStarted if n % 4 == 0 else DoseAdjusted)
        assert (event.patient_id, event.medication_id) == (patient, medication)
    assert len({r[col["event_id"]] for r in rows}) == 12


def test_copy_header_is_postgres_binary_signature() -> None:
    assert COPY_HEADER[:11] == b"PGCOPY\n\xff\r\n\x00" and len(COPY_HEADER) == 19


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(list(reversed(values)), 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert math.isnan(percentile([], 50))


def test_rss_sums_a_process_and_its_descendants(tmp_path: Path) -> None:
    def proc(pid: int, ppid: int, rss_kb: int) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (python x) S {ppid} 1 1 0")
        (tmp_path / str(pid) / "status").write_text(f"Name:\tpython\nVmRSS:\t  {rss_kb} kB\n")

    proc(10, 1, 100)
    proc(11, 10, 20)
    proc(12, 11, 3)
    proc(13, 1, 5000)  # not ours
    (tmp_path / "self").mkdir()
    assert rss_bytes(10, tmp_path) == 123 * 1024
    assert rss_bytes(99, tmp_path) == 0


def test_sizes_read_as_people_write_them() -> None:
    assert [k(10_000), k(1_000_000), k(10_000_000), k(1_062_080), k(100_008), k(2_300), k(250)] == \
        ["10k", "1M", "10M", "1.06M", "100k", "2.3k", "250"]
