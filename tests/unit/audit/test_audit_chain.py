"""The history's chain check: each event's link to its predecessor, one status per event."""

from __future__ import annotations

from dataclasses import replace

from services.coordination.audit.chain import ChainCheck
from shared.envelope import Envelope, chain_hash
from tests.unit.coordination.builders import day, envelope


def sealed(n: int, stream: str = "medication-m-1") -> list[Envelope]:
    """``n`` events of one stream, each sealed to the one before as a producer's store does."""
    out: list[Envelope] = []
    prev: bytes | None = None
    for k in range(1, n + 1):
        env = envelope("pharmacy", "DoseAdjusted", {"medication_id": "m-1", "dose": 10 * k}, at=day(k),
                       stream=stream, seq=k)
        env = replace(env, hash=chain_hash(prev, env))
        prev = env.hash
        out.append(env)
    return out


def statuses(events: list[Envelope]) -> list[str]:
    check = ChainCheck()
    return [check.check(e) for e in events]


def test_an_intact_stream_verifies_event_by_event() -> None:
    assert statuses(sealed(4)) == ["verified"] * 4


def test_an_altered_payload_is_a_mismatch_of_that_event_only() -> None:
    events = sealed(4)
    events[1] = replace(events[1], payload={**events[1].payload, "dose": 999})
    assert statuses(events) == ["verified", "hash mismatch", "verified", "verified"]


def test_a_forged_hash_is_a_mismatch_and_the_next_link_follows_what_was_published() -> None:
    events = sealed(3)
    events[1] = replace(events[1], hash=b"\x01" * 32)
    assert statuses(events) == ["verified", "hash mismatch", "hash mismatch"]


def test_a_missing_predecessor_is_a_gap_and_the_chain_resumes_after_it() -> None:
    events = sealed(5)
    assert statuses([events[0], events[2], events[3], events[4]]) == ["verified", "gap", "verified", "verified"]
    assert statuses(events[1:]) == ["gap", "verified", "verified", "verified"]


def test_an_event_without_a_hash_is_said_so_and_still_links_the_next() -> None:
    events = sealed(3)
    events[1] = replace(events[1], hash=None)
    assert statuses(events) == ["verified", "no hash", "verified"]


def test_streams_are_checked_apart_by_service_and_stream() -> None:
    a, b = sealed(2, "s-1"), sealed(2, "s-2")
    other = [replace(e, type=e.type.replace("pharmacy", "therapy")) for e in sealed(1, "s-1")]
    assert statuses([a[0], b[0], other[0], b[1], a[1]]) == [
        "verified", "verified", "hash mismatch", "verified", "verified"]
