"""Order per stream, decided before anything touches the read model: duplicates and older
sequences are skipped, a gap holds later events back until the missing one arrives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from shared.envelope import Envelope
from shared.projection.items import Item
from shared.projection.ordering import plan

SOURCE = "/carecoord/assessment"


def item(stream: str, seq: int, source: str = SOURCE) -> Item:
    env = Envelope(id=uuid.uuid4(), source=source, type="carecoord.assessment.Sampled.v1",
                   subject="p", time=datetime.now(UTC), clinic_id="c", stream_id=stream,
                   payload={}, stream_version=seq)
    record = ConsumerRecord("t", 0, seq, -1, 0, b"p", b"{}", None, 1, 2, [])
    return Item(record, env)


def seqs(items: list[Item]) -> list[tuple[str, int]]:
    return [(i.envelope.stream_id, i.sequence) for i in items if i.envelope is not None]


def test_in_order_events_apply_and_unknown_sequences_pass() -> None:
    batch = [item("a", 1), item("a", 2), item("b", 0), item("a", 3)]
    out = plan(batch, {}, {})
    assert seqs(out.apply) == [("a", 1), ("a", 2), ("b", 0), ("a", 3)]
    assert out.park == [] and out.stale == []


def test_a_sequence_already_applied_is_stale() -> None:
    out = plan([item("a", 2), item("a", 3), item("a", 4)], {(SOURCE, "a"): 3}, {})
    assert seqs(out.stale) == [("a", 2), ("a", 3)]
    assert seqs(out.apply) == [("a", 4)]


def test_a_gap_parks_until_the_missing_event_then_both_apply_in_order() -> None:
    first = plan([item("a", 1), item("a", 3)], {}, {})
    assert seqs(first.apply) == [("a", 1)] and seqs(first.park) == [("a", 3)]

    parked = first.park[0]
    second = plan([item("a", 2)], {(SOURCE, "a"): 1}, {(SOURCE, "a"): {3: parked}})
    assert seqs(second.apply) == [("a", 2), ("a", 3)]
    assert second.apply[1] is parked and second.park == []


def test_a_gap_filled_within_the_batch_is_never_parked() -> None:
    out = plan([item("a", 2), item("a", 3), item("a", 1)], {}, {})
    assert seqs(out.apply) == [("a", 1), ("a", 2), ("a", 3)]
    assert out.park == []


def test_streams_are_told_apart_by_source() -> None:
    out = plan([item("s", 1, "/carecoord/pharmacy"), item("s", 2)], {(SOURCE, "s"): 1}, {})
    assert seqs(out.apply) == [("s", 1), ("s", 2)]


def test_a_second_event_at_a_parked_sequence_is_stale() -> None:
    out = plan([item("a", 3), item("a", 3)], {(SOURCE, "a"): 1}, {})
    assert len(out.park) == 1 and len(out.stale) == 1


def test_legacy_projections_take_an_unknown_stream_s_first_event_as_its_baseline() -> None:
    out = plan([item("a", 7), item("a", 9)], {}, {}, legacy=True)
    assert seqs(out.apply) == [("a", 7)] and seqs(out.park) == [("a", 9)]
    strict = plan([item("a", 7)], {}, {})
    assert seqs(strict.park) == [("a", 7)]
