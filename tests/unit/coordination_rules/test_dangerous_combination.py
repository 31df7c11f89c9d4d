"""Dangerous combinations: one flag per pair of drugs active together, from the formulary snapshot."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import (
    CITALOPRAM,
    DIAZEPAM,
    HALOPERIDOL,
    OXYCODONE,
    PARACETAMOL,
    SERTRALINE,
    TRAMADOL,
    Drug,
    clinic,
    day,
    flags,
    started,
    stopped,
    unknown,
)

RULE = "dangerous_combination"
METHADONE = Drug("6813", "N07BC02", opioid=True, serotonergic=True, qt_prolonging=True)


def test_opioid_and_benzodiazepine_is_high_from_the_second_start_until_either_stops() -> None:
    history = [first := started(OXYCODONE, day(0)), second := started(DIAZEPAM, day(3)),
               stop := stopped("course-3322", day(9))]
    [flag] = flags(history, day(30), RULE)
    assert (flag.severity, flag.raised_at, flag.resolved_at, flag.resolved_by) == ("high", day(3), day(9),
                                                                                   stop.event_id)
    assert set(flag.evidence) == {first.event_id, second.event_id}
    assert flag.explanation == "N05BA01 and N02AA05 active together since 2026-03-05: opioid with benzodiazepine"


def test_opioid_with_serotonergic_drug_is_a_warning() -> None:
    [flag] = flags([started(TRAMADOL, day(0)), started(SERTRALINE, day(1))], day(30), RULE)
    assert (flag.severity, flag.raised_at, flag.resolved_at) == ("warning", day(1), None)
    assert flag.explanation.endswith("opioid with serotonergic drug")


def test_two_qt_prolonging_drugs_are_high() -> None:
    [flag] = flags([started(CITALOPRAM, day(0)), started(HALOPERIDOL, day(2))], day(30), RULE)
    assert (flag.severity, flag.explanation.endswith("two QT-prolonging drugs")) == ("high", True)


def test_two_drugs_of_one_therapeutic_class_are_a_warning() -> None:
    [flag] = flags([started(SERTRALINE, day(0)), started(CITALOPRAM, day(2))], day(30), RULE)
    assert flag.severity == "warning"
    assert flag.explanation.endswith("same therapeutic class N06AB")


def test_a_pair_matching_several_kinds_is_one_flag_at_the_worst_severity() -> None:
    [flag] = flags([started(METHADONE, day(0)), started(CITALOPRAM, day(1))], day(30), RULE)
    assert flag.severity == "high"
    assert "opioid with serotonergic drug" in flag.explanation and "two QT-prolonging drugs" in flag.explanation


def test_harmless_pairs_unknown_drugs_and_pairs_that_never_overlap_raise_nothing() -> None:
    assert flags([started(SERTRALINE, day(0)), started(PARACETAMOL, day(1))], day(30), RULE) == []
    assert flags([started(unknown("999001"), day(0)), started(unknown("999002"), day(1))], day(30), RULE) == []
    # Stopped at the very moment the other starts: never active together.
    history = [started(OXYCODONE, day(0)), stopped("course-7804", day(3)), started(DIAZEPAM, day(3))]
    assert flags(history, day(30), RULE) == []


def test_each_risky_pair_is_its_own_flag() -> None:
    history = [started(OXYCODONE, day(0)), started(DIAZEPAM, day(1)), started(SERTRALINE, day(2))]
    found = flags(history, day(30), RULE)
    assert sorted(f.explanation.split(":")[1].strip() for f in found) == [
        "opioid with benzodiazepine", "opioid with serotonergic drug"]
    assert len({f.flag_id for f in found}) == 2


def test_a_pair_started_again_later_is_a_new_flag() -> None:
    history = [started(OXYCODONE, day(0)), started(DIAZEPAM, day(1)), stopped("course-3322", day(5)),
               started(DIAZEPAM, day(10), course="diazepam-again")]
    first, second = flags(history, day(30), RULE)
    assert (first.resolved_at, second.raised_at, second.resolved_at) == (day(5), day(10), None)
    assert first.flag_id != second.flag_id


def test_a_clinic_can_switch_a_kind_off_or_change_its_severity() -> None:
    history = [started(OXYCODONE, day(0)), started(DIAZEPAM, day(1))]
    assert flags(history, day(30), RULE, clinic(
        '[clinics."clinic-b".dangerous_combination]\nopioid_benzodiazepine = "off"\n')) == []
    [flag] = flags(history, day(30), RULE, clinic(
        '[clinics."clinic-b".dangerous_combination]\nopioid_benzodiazepine = "urgent"\n'))
    assert flag.severity == "urgent" and flag.thresholds["opioid_benzodiazepine"] == "urgent"


def test_a_backdated_stop_recorded_late_resolves_the_pair_in_the_past() -> None:
    history = [started(OXYCODONE, day(0)), started(DIAZEPAM, day(1)),
               stopped("course-7804", day(4), recorded=day(12))]
    [open_flag] = flags(history, day(11), RULE)
    [resolved] = flags(history, day(12), RULE)
    assert (open_flag.resolved_at, resolved.resolved_at) == (None, day(4))
    assert open_flag.flag_id == resolved.flag_id


def test_a_backdated_start_recorded_late_raises_the_pair_in_the_past() -> None:
    history = [started(OXYCODONE, day(0)), started(DIAZEPAM, day(2), recorded=day(12))]
    assert flags(history, day(11), RULE) == []
    [flag] = flags(history, day(12), RULE)
    assert flag.raised_at == day(2)
