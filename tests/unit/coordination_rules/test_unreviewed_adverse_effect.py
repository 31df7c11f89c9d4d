"""Unreviewed adverse effect: moderate/severe with no dose change, stop or care-plan review within 7 days."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import (
    SERTRALINE,
    adjusted,
    adverse,
    clinic,
    conference,
    day,
    flags,
    reviewed,
    started,
    stopped,
)

RULE = "unreviewed_adverse_effect"
COURSE = "course-36437"
ON = started(SERTRALINE, day(-10))


def test_raised_seven_days_after_a_moderate_effect_and_resolved_by_a_dose_change() -> None:
    history = [ON, effect := adverse(COURSE, day(0)), act := adjusted(COURSE, day(9), "decrease")]
    assert flags(history, day(6.9), RULE) == []
    [flag] = flags(history, day(30), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.resolved_by) == (day(7), day(9), act.event_id)
    assert flag.evidence == (effect.event_id,)
    assert flag.explanation == ("moderate adverse effect observed 2026-03-02, no dose change, stop or care-plan "
                                "review within 7 days")


def test_a_mild_effect_raises_nothing_and_a_severe_one_does() -> None:
    assert flags([ON, adverse(COURSE, day(0), "mild")], day(30), RULE) == []
    assert len(flags([ON, adverse(COURSE, day(0), "severe")], day(30), RULE)) == 1


def test_a_stop_a_dose_change_or_a_review_on_day_seven_answers_it() -> None:
    for answer in (stopped(COURSE, day(7)), adjusted(COURSE, day(7)), reviewed(day(7))):
        assert flags([ON, adverse(COURSE, day(0)), answer], day(30), RULE) == [], answer.event_name


def test_another_courses_change_a_unit_change_or_a_case_conference_do_not_answer_it() -> None:
    for other in (adjusted("other-course", day(3)), adjusted(COURSE, day(3), "unit_change"), conference(day(3))):
        [flag] = flags([ON, adverse(COURSE, day(0)), other], day(30), RULE)
        assert flag.resolved_at is None, other.event_name


def test_a_clinic_may_flag_only_severe_effects() -> None:
    config = clinic('[clinics."clinic-b".unreviewed_adverse_effect]\nseverities = ["severe"]\n')
    assert flags([ON, adverse(COURSE, day(0))], day(30), RULE, config) == []
    [flag] = flags([ON, adverse(COURSE, day(0), "severe")], day(30), RULE, config)
    assert flag.thresholds["severities"] == ("severe",)


def test_a_backdated_review_recorded_late_resolves_it_in_the_past() -> None:
    history = [ON, adverse(COURSE, day(0)), reviewed(day(8), recorded=day(20))]
    assert flags(history, day(19), RULE)[0].resolved_at is None
    assert flags(history, day(20), RULE)[0].resolved_at == day(8)
