"""Envelope, payload registry with upcasters, and the content hash chain (pure, no infra)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from shared.envelope import (
    Envelope,
    EventRegistry,
    Metadata,
    UnknownEventType,
    canonical_content,
    chain_hash,
    new_envelope,
    parse_type,
)
from shared.events import DomainEvent
from shared.eventstore.base import verify_chain

T0 = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)


class DoseAdjustedV1(DomainEvent):
    event_name: ClassVar[str] = "DoseAdjusted"
    version: ClassVar[int] = 1

    dose_mg: float


class DoseAdjustedV2(DomainEvent):
    """v2 split the dose into amount and unit and added a reason."""

    event_name: ClassVar[str] = "DoseAdjusted"
    version: ClassVar[int] = 2

    amount: float
    unit: str
    reason: str


class DoseAdjustedV3(DomainEvent):
    event_name: ClassVar[str] = "DoseAdjusted"
    version: ClassVar[int] = 3

    amount: float
    unit: str
    reason_code: str


def _registry(current: type[DomainEvent]) -> EventRegistry:
    reg = EventRegistry()
    reg.register("pharmacy", current)

    @reg.upcaster("pharmacy", "DoseAdjusted", 1)
    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        data["amount"] = data.pop("dose_mg")
        data["unit"] = "mg"
        data["reason"] = "unrecorded"
        return data

    @reg.upcaster("pharmacy", "DoseAdjusted", 2)
    def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        data["reason_code"] = data.pop("reason").upper()
        return data

    return reg


def _stored(event: DomainEvent, version: int = 1, **changes: Any) -> Envelope:
    env = new_envelope("pharmacy", "course-1", event, subject="patient-1", clinic_id="clinic-1",
                       metadata=Metadata(actor="staff-7", causation_id="cmd-1"))
    return replace(replace(env, stream_version=version, recorded_at=T0 + timedelta(seconds=version)), **changes)


def test_a_stored_v1_payload_decodes_as_the_current_model() -> None:
    stored = _stored(DoseAdjustedV1(occurred_at=T0, dose_mg=12.5))
    assert stored.type == "carecoord.pharmacy.DoseAdjusted.v1"

    decoded = _registry(DoseAdjustedV2).decode(stored)

    assert decoded == DoseAdjustedV2(occurred_at=T0, amount=12.5, unit="mg", reason="unrecorded")
    assert stored.payload == {"occurred_at": "2024-05-02T09:30:00Z", "dose_mg": 12.5}  # untouched


def test_upcasters_chain_across_several_versions() -> None:
    reg = _registry(DoseAdjustedV3)
    v1 = _stored(DoseAdjustedV1(occurred_at=T0, dose_mg=5))
    v2 = _stored(DoseAdjustedV2(occurred_at=T0, amount=5, unit="ml", reason="taper"))
    assert reg.decode(v1) == DoseAdjustedV3(occurred_at=T0, amount=5, unit="mg",
                                            reason_code="UNRECORDED")
    assert reg.decode(v2) == DoseAdjustedV3(occurred_at=T0, amount=5, unit="ml", reason_code="TAPER")


def test_current_version_decodes_without_upcasting() -> None:
    event = DoseAdjustedV2(occurred_at=T0, amount=1, unit="mg", reason="r")
    assert _registry(DoseAdjustedV2).decode(_stored(event)) == event


def test_missing_upcaster_newer_version_and_unknown_type_are_refused() -> None:
    reg = EventRegistry()
    reg.register("pharmacy", DoseAdjustedV2)
    with pytest.raises(UnknownEventType, match="no upcaster"):
        reg.decode(_stored(DoseAdjustedV1(occurred_at=T0, dose_mg=1)))
    with pytest.raises(UnknownEventType, match="newer"):
        reg.decode(_stored(DoseAdjustedV3(occurred_at=T0, amount=1, unit="mg", reason_code="X")))
    other = replace(_stored(DoseAdjustedV2(occurred_at=T0, amount=1, unit="mg", reason="r")),
                    type="carecoord.therapy.SessionHeld.v1")
    assert not reg.knows(other.type)
    with pytest.raises(UnknownEventType):
        reg.decode(other)
    with pytest.raises(UnknownEventType):
        parse_type("DoseAdjusted")


def test_new_envelope_fills_cloudevents_attributes() -> None:
    env = new_envelope("pharmacy", "course-1", DoseAdjustedV1(occurred_at=T0, dose_mg=1),
                       subject="patient-1", clinic_id="clinic-1",
                       metadata=Metadata(actor="staff-7", correlation_id="corr-1",
                                         causation_id="cmd-1", traceparent="00-" + "a" * 32 + "-"
                                         + "b" * 16 + "-01"))
    assert (env.source, env.type, env.subject, env.time, env.clinic_id, env.stream_id) == (
        "/carecoord/pharmacy", "carecoord.pharmacy.DoseAdjusted.v1", "patient-1", T0,
        "clinic-1", "course-1")
    assert (env.service, env.event_name, env.schema_version) == ("pharmacy", "DoseAdjusted", 1)
    assert (env.actor, env.correlation_id, env.causation_id) == ("staff-7", "corr-1", "cmd-1")
    assert env.traceparent and env.stream_version == 0 and env.recorded_at is None
    lone = new_envelope("pharmacy", "c", DoseAdjustedV1(occurred_at=T0, dose_mg=1),
                        subject="p", clinic_id="k")
    assert lone.correlation_id == str(lone.id)  # a new causal chain starts at itself


# --------------------------------------------------------------------------- hashing

BASE = _stored(DoseAdjustedV1(occurred_at=T0, dose_mg=12.5), version=2,
               correlation_id="corr-1")

CHANGES: dict[str, Any] = {
    "id": uuid.uuid4(),
    "source": "/carecoord/therapy",
    "type": "carecoord.pharmacy.DoseAdjusted.v2",
    "subject": "patient-2",
    "time": T0 + timedelta(microseconds=1),
    "clinic_id": "clinic-2",
    "stream_id": "course-2",
    "stream_version": 3,
    "recorded_at": T0 + timedelta(days=1),
    "correlation_id": "corr-2",
    "causation_id": "cmd-2",
    "actor": "staff-8",
    "payload": {"occurred_at": "2024-05-02T09:30:00Z", "dose_mg": 12.6},
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_changing_any_recorded_field_changes_the_hash(field: str) -> None:
    prev = chain_hash(None, BASE)
    changed = replace(BASE, **{field: CHANGES[field]})
    assert canonical_content(changed) != canonical_content(BASE)
    assert chain_hash(prev, changed) != chain_hash(prev, BASE)


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_verify_chain_names_the_changed_event(field: str) -> None:
    stream, prev = [], None
    for v in (1, 2, 3):
        env = replace(BASE, id=uuid.uuid4(), stream_version=v)
        env = replace(env, hash=chain_hash(prev, env))
        prev = env.hash
        stream.append(env)
    assert verify_chain("course-1", stream).ok
    if field == "stream_version":
        tampered = replace(stream[1], stream_version=7)
    else:
        tampered = replace(stream[1], **{field: CHANGES[field]})
    result = verify_chain("course-1", [stream[0], tampered, stream[2]])
    assert not result.ok
    assert result.first_bad_event_id == str(tampered.id)
    assert result.checked == 2


def test_the_hash_chains_to_the_previous_event() -> None:
    assert chain_hash(b"\x01" * 32, BASE) != chain_hash(b"\x02" * 32, BASE)
    assert chain_hash(None, BASE) == chain_hash(None, BASE)


def test_reordering_events_breaks_the_chain() -> None:
    a = replace(BASE, id=uuid.uuid4(), stream_version=1)
    a = replace(a, hash=chain_hash(None, a))
    b = replace(BASE, id=uuid.uuid4(), stream_version=2)
    b = replace(b, hash=chain_hash(a.hash, b))
    c = replace(BASE, id=uuid.uuid4(), stream_version=3)
    c = replace(c, hash=chain_hash(b.hash, c))
    assert verify_chain("s", [a, b, c]).ok
    dropped = verify_chain("s", [a, c])  # an event deleted from the middle
    assert not dropped.ok and dropped.first_bad_event_id == str(c.id)


def test_canonical_content_ignores_global_position_and_delivery_details() -> None:
    moved = replace(BASE, global_position=98765, hash=b"x" * 32,
                    traceparent="00-" + "c" * 32 + "-" + "d" * 16 + "-01")
    assert canonical_content(moved) == canonical_content(BASE)
    assert chain_hash(None, moved) == chain_hash(None, BASE)


def test_canonical_content_is_independent_of_time_zone_and_key_order() -> None:
    """A store returns times in UTC and JSON objects with its own key order; the hash of
    what was appended must match the hash of what is read back."""
    berlin = timezone(timedelta(hours=2))
    shifted = replace(BASE, time=BASE.time.astimezone(berlin),
                      recorded_at=BASE.recorded_at.astimezone(berlin) if BASE.recorded_at else None,
                      payload=dict(reversed(list(BASE.payload.items()))))
    assert canonical_content(shifted) == canonical_content(BASE)


def test_canonical_content_treats_json_numbers_by_value() -> None:
    as_written = replace(BASE, payload={"a": 1e16, "b": -0.0, "c": 0.5})
    as_read_back = replace(BASE, payload={"a": 10000000000000000, "b": 0.0, "c": 0.5})
    assert canonical_content(as_written) == canonical_content(as_read_back)
    assert canonical_content(replace(BASE, payload={"a": 1e16 + 2})) != canonical_content(as_written)
