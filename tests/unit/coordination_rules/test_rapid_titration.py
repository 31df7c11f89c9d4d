"""Rapid titration: more than one dose increase of one course within 7 days."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import SERTRALINE, adjusted, clinic, day, flags, started

RULE = "rapid_titration"
COURSE = "course-36437"
ON = started(SERTRALINE, day(-10))


def test_the_second_increase_on_day_seven_raises_it_until_seven_days_later() -> None:
    history = [ON, first := adjusted(COURSE, day(0)), second := adjusted(COURSE, day(7))]
    [open_flag] = flags(history, day(13), RULE)
    assert (open_flag.raised_at, open_flag.resolved_at) == (day(7), None)
    assert open_flag.evidence == (first.event_id, second.event_id)
    assert open_flag.explanation == ("2 dose increases of one medication between 2026-03-02 and 2026-03-09 "
                                     "(threshold 2 within 7 days)")
    [flag] = flags(history, day(14), RULE)
    assert (flag.flag_id, flag.resolved_at, flag.resolved_by) == (open_flag.flag_id, day(14), None)


def test_increases_eight_days_apart_decreases_and_other_courses_do_not_count() -> None:
    assert flags([ON, adjusted(COURSE, day(0)), adjusted(COURSE, day(8))], day(30), RULE) == []
    assert flags([ON, adjusted(COURSE, day(0)), adjusted(COURSE, day(2), "decrease")], day(30), RULE) == []
    assert flags([ON, adjusted(COURSE, day(0)), adjusted("other-course", day(2))], day(30), RULE) == []


def test_a_further_increase_keeps_it_open_seven_more_days() -> None:
    history = [ON, adjusted(COURSE, day(0)), adjusted(COURSE, day(3)), adjusted(COURSE, day(9))]
    [flag] = flags(history, day(30), RULE)
    assert (flag.raised_at, flag.resolved_at) == (day(3), day(16))


def test_a_new_run_after_a_quiet_week_is_a_new_flag() -> None:
    history = [ON, adjusted(COURSE, day(0)), adjusted(COURSE, day(3)), adjusted(COURSE, day(20)),
               adjusted(COURSE, day(21))]
    first, second = flags(history, day(40), RULE)
    assert (first.resolved_at, second.raised_at, second.resolved_at) == (day(10), day(21), day(28))


def test_a_clinic_override_narrows_the_window() -> None:
    history = [ON, adjusted(COURSE, day(0)), adjusted(COURSE, day(5))]
    assert flags(history, day(30), RULE, clinic('[clinics."clinic-b".rapid_titration]\ndays = 3\n')) == []


def test_a_backdated_increase_recorded_late_raises_it_in_the_past() -> None:
    history = [ON, adjusted(COURSE, day(0)), adjusted(COURSE, day(4), recorded=day(20))]
    assert flags(history, day(19), RULE) == []
    [flag] = flags(history, day(20), RULE)
    assert (flag.raised_at, flag.resolved_at) == (day(4), day(11))
