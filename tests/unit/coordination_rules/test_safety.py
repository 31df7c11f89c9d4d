"""Safety: PHQ-9 item 9 above zero is urgent until a later PHQ-9 answers it with zero."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import clinic, day, flags, scored

RULE = "safety"


def test_raised_at_the_administration_and_resolved_by_a_later_negative_phq9() -> None:
    history = [positive := scored("PHQ-9", 14, day(0), item9=1), negative := scored("PHQ-9", 10, day(14))]
    [open_flag] = flags(history, day(10), RULE)
    assert (open_flag.severity, open_flag.raised_at, open_flag.resolved_at) == ("urgent", day(0), None)
    assert open_flag.evidence == (positive.event_id,)
    assert open_flag.explanation == "PHQ-9 item 9 = 1 on 2026-03-02 (threshold 1)"
    [flag] = flags(history, day(20), RULE)
    assert (flag.flag_id, flag.resolved_at, flag.resolved_by) == (open_flag.flag_id, day(14), negative.event_id)


def test_item_nine_at_zero_and_other_instruments_raise_nothing() -> None:
    assert flags([scored("PHQ-9", 20, day(0))], day(10), RULE) == []
    assert flags([scored("GAD-7", 20, day(0))], day(10), RULE) == []


def test_a_second_positive_joins_the_open_flag() -> None:
    history = [first := scored("PHQ-9", 14, day(0), item9=1), again := scored("PHQ-9", 15, day(7), item9=2)]
    [flag] = flags(history, day(10), RULE)
    assert (flag.raised_at, flag.evidence) == (day(0), (first.event_id, again.event_id))


def test_a_positive_after_resolution_is_a_new_flag() -> None:
    history = [scored("PHQ-9", 14, day(0), item9=1), scored("PHQ-9", 10, day(7)), scored("PHQ-9", 14, day(14), item9=3)]
    first, second = flags(history, day(20), RULE)
    assert (first.resolved_at, second.raised_at, second.resolved_at) == (day(7), day(14), None)
    assert first.flag_id != second.flag_id


def test_a_clinic_may_raise_from_item_score_two() -> None:
    config = clinic('[clinics."clinic-b".safety]\nmin_item_score = 2\n')
    assert flags([scored("PHQ-9", 14, day(0), item9=1)], day(10), RULE, config) == []
    assert len(flags([scored("PHQ-9", 14, day(0), item9=2)], day(10), RULE, config)) == 1


def test_a_backdated_negative_phq9_recorded_late_resolves_it_in_the_past() -> None:
    history = [scored("PHQ-9", 14, day(0), item9=1), scored("PHQ-9", 8, day(7), recorded=day(20))]
    assert flags(history, day(19), RULE)[0].resolved_at is None
    assert flags(history, day(20), RULE)[0].resolved_at == day(7)


def test_a_backdated_positive_recorded_late_raises_it_in_the_past() -> None:
    history = [scored("PHQ-9", 8, day(10)), scored("PHQ-9", 14, day(3), item9=1, recorded=day(20))]
    assert flags(history, day(19), RULE) == []
    [flag] = flags(history, day(20), RULE)
    assert (flag.raised_at, flag.resolved_at) == (day(3), day(10))
