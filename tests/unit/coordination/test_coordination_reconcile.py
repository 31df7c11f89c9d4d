"""Reconciliation of the rules' findings with the stored flags: pure, stored flags + found
flags → the flags to write and the changes to announce."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.coordination.flagging.model import Acknowledgement, StoredFlag
from services.coordination.flagging.reconcile import Reconciled, reconcile
from services.coordination.rules import Flag

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLINIC = "clinic-a"


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def found(flag_id: str = "f-1", *, raised: float = 1, resolved: float | None = None, severity: str = "warning",
          evidence: tuple[str, ...] = ("e-1",), explanation: str = "why", count: int = 5) -> Flag:
    return Flag(flag_id=flag_id, rule_id="polypharmacy", rule_version="1+thresholds.2026.1", patient_id="p-1",
                severity=severity, raised_at=day(raised),  # type: ignore[arg-type]
                resolved_at=day(resolved) if resolved is not None else None,
                thresholds={"count": count, "high_count": 10}, evidence=evidence, explanation=explanation)


def stored(flag: Flag, **changes: object) -> StoredFlag:
    """The flag as the service stored it once announced (open unless said otherwise)."""
    base = reconcile({}, [flag], CLINIC).writes[0]
    return replace(base, **changes)  # type: ignore[arg-type]


def by_id(*flags: StoredFlag) -> dict[str, StoredFlag]:
    return {f.flag_id: f for f in flags}


def kinds(r: Reconciled) -> list[tuple[str, str, str]]:
    return [(c.kind, c.flag.flag_id, c.flag.status) for c in r.changes]


def test_a_new_open_flag_is_raised() -> None:
    r = reconcile({}, [found()], CLINIC)
    assert kinds(r) == [("raised", "f-1", "open")]
    [f] = r.writes
    assert (f.clinic_id, f.raised_at, f.resolved_at, f.thresholds, f.evidence) == (
        CLINIC, day(1), None, {"count": 5, "high_count": 10}, ("e-1",))


def test_a_new_flag_already_resolved_is_raised_then_resolved_with_a_snapshot_each() -> None:
    r = reconcile({}, [found(resolved=3)], CLINIC)
    assert kinds(r) == [("raised", "f-1", "open"), ("resolved", "f-1", "resolved")]
    assert r.changes[0].flag.resolved_at is None and r.changes[1].flag.resolved_at == day(3)
    assert r.writes == [r.changes[1].flag]


def test_an_open_flag_the_engine_resolves_is_resolved_in_event_time() -> None:
    r = reconcile(by_id(stored(found())), [found(resolved=4)], CLINIC)
    assert kinds(r) == [("resolved", "f-1", "resolved")]
    assert r.writes[0].resolved_at == day(4) and not r.writes[0].withdrawn


def test_nothing_new_writes_nothing() -> None:
    s = stored(found())
    assert reconcile(by_id(s), [found()], CLINIC) == Reconciled()
    resolved = stored(found(resolved=4), status="resolved", resolved_at=day(4))
    assert reconcile(by_id(resolved), [found(resolved=4)], CLINIC) == Reconciled()


def test_an_acknowledged_flag_stays_acknowledged_until_resolved_and_keeps_its_acknowledgement() -> None:
    ack = Acknowledgement("action_planned", "staff-2", day(2))
    s = stored(found(), status="acknowledged", acknowledgement=ack)
    assert reconcile(by_id(s), [found()], CLINIC) == Reconciled()
    r = reconcile(by_id(s), [found(resolved=5)], CLINIC)
    assert kinds(r) == [("resolved", "f-1", "resolved")]
    assert r.writes[0].acknowledgement == ack


def test_a_rising_severity_is_raised_again_with_the_thresholds_of_this_raise() -> None:
    s = stored(found())
    r = reconcile(by_id(s), [found(severity="high", evidence=("e-1", "e-2"), count=4)], CLINIC)
    assert kinds(r) == [("raised", "f-1", "open")]
    f = r.writes[0]
    assert (f.severity, f.evidence, f.thresholds["count"]) == ("high", ("e-1", "e-2"), 4)


def test_evidence_or_explanation_alone_is_written_without_a_change() -> None:
    s = stored(found())
    r = reconcile(by_id(s), [found(evidence=("e-1", "e-9"), explanation="more", count=4)], CLINIC)
    assert r.changes == []
    [f] = r.writes
    assert (f.evidence, f.explanation) == (("e-1", "e-9"), "more")
    assert f.thresholds["count"] == 5, "thresholds are those of the raise"


def test_a_flag_the_engine_no_longer_finds_is_withdrawn_at_the_backdated_event_not_before_its_raise() -> None:
    s = stored(found(raised=3))
    r = reconcile(by_id(s), [], CLINIC, withdrawn_at=day(5))
    assert kinds(r) == [("resolved", "f-1", "resolved")]
    assert (r.writes[0].resolved_at, r.writes[0].withdrawn) == (day(5), True)
    earlier = reconcile(by_id(s), [], CLINIC, withdrawn_at=day(1))  # the backdated event predates the raise
    assert earlier.writes[0].resolved_at == day(3)
    tick = reconcile(by_id(s), [], CLINIC)  # no new event: a thresholds change, say
    assert tick.writes[0].resolved_at == day(3)
    assert reconcile(by_id(r.writes[0]), [], CLINIC) == Reconciled(), "withdrawn once"


def test_a_resolved_flag_the_engine_no_longer_finds_is_marked_withdrawn() -> None:
    s = stored(found(resolved=4), status="resolved", resolved_at=day(4))
    r = reconcile(by_id(s), [], CLINIC, withdrawn_at=day(2))
    assert kinds(r) == [("resolved", "f-1", "resolved")]
    assert (r.writes[0].resolved_at, r.writes[0].withdrawn) == (day(4), True)


def test_a_resolution_taken_back_by_a_backdated_event_reopens_the_flag() -> None:
    ack = Acknowledgement("other", "staff-2", day(2))
    s = stored(found(resolved=4), status="resolved", resolved_at=day(4), acknowledgement=ack)
    r = reconcile(by_id(s), [found()], CLINIC)
    assert kinds(r) == [("raised", "f-1", "acknowledged")]
    assert r.writes[0].resolved_at is None
    moved = reconcile(by_id(s), [found(resolved=6)], CLINIC)
    assert kinds(moved) == [("resolved", "f-1", "resolved")] and moved.writes[0].resolved_at == day(6)


def test_a_withdrawn_flag_found_again_is_raised_again() -> None:
    s = stored(found(raised=3), status="resolved", resolved_at=day(3), withdrawn=True)
    r = reconcile(by_id(s), [found(raised=3)], CLINIC)
    assert kinds(r) == [("raised", "f-1", "open")] and not r.writes[0].withdrawn


def test_a_flag_found_for_the_first_time_with_an_acknowledgement_on_record_starts_acknowledged() -> None:
    ack = Acknowledgement("already_addressed", "staff-3", day(2))
    r = reconcile({}, [found()], CLINIC, acks={"f-1": ack})
    assert kinds(r) == [("raised", "f-1", "acknowledged")] and r.writes[0].acknowledgement == ack


def test_applying_the_result_again_changes_nothing() -> None:
    s = by_id(stored(found("f-1")), stored(found("f-2", raised=2)))
    engine = [found("f-1", resolved=3, severity="high"), found("f-3", raised=4)]
    first = reconcile(s, engine, CLINIC, withdrawn_at=day(2))
    after = {**s, **by_id(*first.writes)}
    assert reconcile(after, engine, CLINIC, withdrawn_at=day(2)) == Reconciled()
    assert sorted(kinds(first)) == [("raised", "f-3", "open"), ("resolved", "f-1", "resolved"),
                                    ("resolved", "f-2", "resolved")]
