"""The CloudEvents Kafka binding (binary mode): what a consumer in another team reads off a
record, header by header, and how a malformed record is refused without echoing it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.envelope import Envelope
from shared.kafka import headers as ce

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SECRET = "Erika-Mustermann-1961"

ENV = Envelope(
    id=uuid.UUID("6f1c7a52-8c1e-4a44-9f0b-0d5e2a7b9c11"),
    source="/carecoord/pharmacy",
    type="carecoord.pharmacy.DoseAdjusted.v2",
    subject="patient-42",
    time=datetime(2024, 5, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
    clinic_id="clinic-7",
    stream_id="course-9",
    payload={"amount": 12.5, "unit": "mg", "note": "Grüße", "nested": {"k": [1, None]}},
    stream_version=4,
    recorded_at=datetime(2024, 5, 2, 7, 30, 16, 1, tzinfo=UTC),
    correlation_id="corr-1",
    causation_id="cmd-1",
    actor="staff-3",
    traceparent=TRACEPARENT,
)


def _headers(env: Envelope = ENV) -> dict[str, bytes]:
    _, _, headers = ce.encode(env)
    names = [k for k, _ in headers]
    assert len(names) == len(set(names)), "a header appears twice"
    return dict(headers)


def test_round_trip_keeps_every_attribute() -> None:
    key, value, headers = ce.encode(ENV)
    back = ce.decode(value, headers)
    assert back == ENV  # every field but the store-local global position and hash
    assert back.time == ENV.time and back.time.utcoffset() == timedelta(hours=2)
    assert back.recorded_at == ENV.recorded_at
    assert key == b"patient-42"
    assert json.loads(value) == ENV.payload


def test_round_trip_without_optional_attributes() -> None:
    bare = Envelope(id=uuid.uuid4(), source="/carecoord/therapy",
                    type="carecoord.therapy.SessionHeld.v1", subject="patient-1",
                    time=datetime(2024, 1, 1, tzinfo=UTC), clinic_id="c", stream_id="episode-1",
                    payload={})
    _, value, headers = ce.encode(bare)
    names = {k for k, _ in headers}
    assert not names & {"ce_correlationid", "ce_causationid", "traceparent"}
    assert ce.decode(value, headers) == bare


def test_header_names_and_values_follow_the_cloudevents_kafka_binding() -> None:
    h = _headers()
    assert h["ce_specversion"] == b"1.0"
    assert h["ce_id"] == b"6f1c7a52-8c1e-4a44-9f0b-0d5e2a7b9c11"
    assert h["ce_source"] == b"/carecoord/pharmacy"
    assert h["ce_type"] == b"carecoord.pharmacy.DoseAdjusted.v2"
    assert datetime.fromisoformat(h["ce_time"].decode()) == ENV.time
    assert h["ce_subject"] == b"patient-42"
    assert h["ce_partitionkey"] == b"patient-42"
    assert h["ce_clinicid"] == b"clinic-7"
    assert h["ce_correlationid"] == b"corr-1"
    assert h["ce_causationid"] == b"cmd-1"
    assert h["ce_sequence"] == b"4"
    assert datetime.fromisoformat(h["ce_recordedat"].decode()) == ENV.recorded_at
    assert h["content-type"] == b"application/json"
    assert h["traceparent"] == TRACEPARENT.encode()
    assert all(isinstance(v, bytes) for v in h.values())


REQUIRED = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
            "ce_clinicid"]


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_missing_required_header_is_refused(missing: str) -> None:
    _, value, headers = ce.encode(ENV)
    with pytest.raises(ce.EnvelopeDecodeError) as info:
        ce.decode(value, [(k, v) for k, v in headers if k != missing])
    assert missing.removeprefix("ce_") in str(info.value)


@pytest.mark.parametrize("name", ["ce_id", "ce_time", "ce_sequence", "ce_recordedat",
                                  "ce_specversion"])
def test_a_malformed_header_is_refused_without_quoting_it(name: str) -> None:
    _, value, headers = ce.encode(ENV)
    bad = [(k, f"{SECRET}".encode() if k == name else v) for k, v in headers]
    with pytest.raises(ce.EnvelopeDecodeError) as info:
        ce.decode(value, bad)
    assert SECRET not in str(info.value)
    assert "Erika" not in repr(info.value)


@pytest.mark.parametrize("value", [
    b'{"name": "Erika-Mustermann-1961", "dob": ',  # truncated JSON
    b"Erika-Mustermann-1961",                       # not JSON at all
    b'["Erika-Mustermann-1961"]',                    # JSON, but not an object
    b'"Erika-Mustermann-1961"',
    b"\xff\xfeErika-Mustermann-1961",                # not UTF-8
    b"",
    None,                                            # a tombstone
])
def test_a_non_json_object_value_is_refused_without_quoting_it(value: bytes | None) -> None:
    _, _, headers = ce.encode(ENV)
    with pytest.raises(ce.EnvelopeDecodeError) as info:
        ce.decode(value, headers)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None or SECRET not in str(info.value.__cause__)


def test_no_headers_at_all_is_refused() -> None:
    with pytest.raises(ce.EnvelopeDecodeError):
        ce.decode(b"{}", [])


def test_a_header_without_a_value_is_refused() -> None:
    _, value, headers = ce.encode(ENV)
    nulled = [(k, None if k == "ce_id" else v) for k, v in headers]
    with pytest.raises(ce.EnvelopeDecodeError):
        ce.decode(value, nulled)  # type: ignore[arg-type]
