"""Polypharmacy: distinct drug codes active at once, raised and resolved in event time."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import (
    DIAZEPAM,
    IBUPROFEN,
    MIRTAZAPINE,
    OXYCODONE,
    PARACETAMOL,
    PREGABALIN,
    QUETIAPINE,
    SERTRALINE,
    clinic,
    day,
    flags,
    started,
    stopped,
    unknown,
)

FIVE = [SERTRALINE, PARACETAMOL, IBUPROFEN, PREGABALIN, QUETIAPINE]
RULE = "polypharmacy"


def test_raised_when_the_fifth_distinct_drug_starts_and_resolved_when_one_stops() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE)]
    history.append(stop := stopped("course-161", day(10)))
    [flag] = flags(history, day(30), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.resolved_by) == (day(4), day(10), stop.event_id)
    assert flag.severity == "warning"
    assert flag.evidence == tuple(e.event_id for e in history[:5])
    assert flag.explanation == "5 distinct drugs active since 2026-03-06 (threshold 5)"
    assert dict(flag.thresholds) == {"count": 5, "high_count": 10}


def test_four_drugs_raise_nothing_and_the_flag_is_open_until_the_stop() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE)]
    assert flags(history[:4], day(30), RULE) == []
    history.append(stopped("course-161", day(10)))
    [flag] = flags(history, day(9), RULE)
    assert flag.resolved_at is None and flag.status == "open"


def test_two_courses_of_one_drug_count_once_and_an_unknown_rxnorm_drug_counts() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE[:4])]
    history.append(started(SERTRALINE, day(5), course="second-sertraline-course"))
    assert flags(history, day(30), RULE) == []
    history.append(started(unknown("999001"), day(6)))
    [flag] = flags(history, day(30), RULE)
    assert flag.raised_at == day(6)


def test_a_switch_at_one_instant_keeps_the_flag_open() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE)]
    history += [stopped("course-161", day(8)), started(MIRTAZAPINE, day(8))]
    [flag] = flags(history, day(30), RULE)
    assert flag.raised_at == day(4) and flag.resolved_at is None


def test_a_course_started_and_stopped_at_one_instant_never_counts() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE[:4])]
    history += [started(MIRTAZAPINE, day(5)), stopped("course-15996", day(5))]
    assert flags(history, day(30), RULE) == []


def test_ten_drugs_make_it_high_within_the_same_flag() -> None:
    ten = [*FIVE, MIRTAZAPINE, DIAZEPAM, OXYCODONE, unknown("999001"), unknown("999002")]
    history = [started(drug, day(i)) for i, drug in enumerate(ten)]
    [flag] = flags(history, day(8.5), RULE)
    assert flag.severity == "warning"
    [flag_later] = flags(history, day(30), RULE)
    assert (flag_later.flag_id, flag_later.severity, flag_later.raised_at) == (flag.flag_id, "high", day(4))
    assert len(flag_later.evidence) == 10
    assert "10 since 2026-03-11 (high from 10)" in flag_later.explanation


def test_a_new_stretch_above_the_threshold_is_a_new_flag() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE)]
    history += [stopped("course-161", day(10)), started(MIRTAZAPINE, day(12))]
    first, second = flags(history, day(30), RULE)
    assert (first.resolved_at, second.raised_at, second.resolved_at) == (day(10), day(12), None)
    assert first.flag_id != second.flag_id


def test_a_clinic_override_lowers_the_threshold() -> None:
    override = '[clinics."clinic-b".polypharmacy]\ncount = 4\n'
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE[:4])]
    [flag] = flags(history, day(30), RULE, clinic(override))
    assert flag.raised_at == day(3)
    assert dict(flag.thresholds) == {"count": 4, "high_count": 10}
    assert flag.rule_version == "1+thresholds.2026.1"
    assert flags(history, day(30), RULE, clinic(override, "clinic-a")) == []


def test_a_backdated_start_recorded_late_raises_the_flag_in_the_past() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE[:4])]
    history.append(started(MIRTAZAPINE, day(2), recorded=day(20)))
    assert flags(history, day(19), RULE) == []
    [flag] = flags(history, day(20), RULE)
    assert flag.raised_at == day(3)  # the fifth drug was active from the fourth start on


def test_a_backdated_stop_recorded_late_resolves_the_flag_in_the_past() -> None:
    history = [started(drug, day(i)) for i, drug in enumerate(FIVE)]
    history.append(stopped("course-161", day(6), recorded=day(20)))
    assert flags(history, day(19), RULE)[0].resolved_at is None
    assert flags(history, day(20), RULE)[0].resolved_at == day(6)
