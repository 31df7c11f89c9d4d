"""Plan review due: a life change with no care-plan review or case conference within 14 days."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import clinic, conference, day, flags, life_change, reviewed

RULE = "plan_review_due"


def test_raised_14_days_after_the_change_and_resolved_by_the_next_review() -> None:
    history = [change := life_change(day(0)), review := reviewed(day(20))]
    assert flags(history, day(13.9), RULE) == []
    [flag] = flags(history, day(30), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.resolved_by) == (day(14), day(20), review.event_id)
    assert (flag.severity, flag.evidence) == ("warning", (change.event_id,))
    assert flag.explanation == "housing worsened (high impact) on 2026-03-02, no care-plan review within 14 days"


def test_a_review_or_a_conference_on_the_last_day_is_in_time() -> None:
    assert flags([life_change(day(0)), reviewed(day(14))], day(30), RULE) == []
    assert flags([life_change(day(0)), conference(day(14))], day(30), RULE) == []


def test_a_case_conference_after_the_deadline_resolves_it() -> None:
    [flag] = flags([life_change(day(0)), held := conference(day(16))], day(30), RULE)
    assert flag.resolved_by == held.event_id


def test_a_review_before_the_change_does_not_count() -> None:
    [flag] = flags([reviewed(day(-1)), life_change(day(0))], day(30), RULE)
    assert flag.resolved_at is None


def test_improvements_and_low_impact_changes_are_info() -> None:
    [better] = flags([life_change(day(0), direction="improved")], day(30), RULE)
    [low] = flags([life_change(day(0), impact="low")], day(30), RULE)
    assert better.severity == low.severity == "info"


def test_every_change_is_its_own_flag_and_one_review_resolves_them_all() -> None:
    history = [life_change(day(0)), life_change(day(3), category="employment"), reviewed(day(30))]
    first, second = flags(history, day(40), RULE)
    assert (first.raised_at, second.raised_at, first.resolved_at, second.resolved_at) == (
        day(14), day(17), day(30), day(30))


def test_a_clinic_override_shortens_the_wait() -> None:
    [flag] = flags([life_change(day(0))], day(30), RULE, clinic('[clinics."clinic-b".plan_review_due]\ndays = 7\n'))
    assert flag.raised_at == day(7)


def test_a_backdated_review_recorded_late_means_nothing_was_due() -> None:
    history = [life_change(day(0)), reviewed(day(10), recorded=day(30))]
    assert len(flags(history, day(29), RULE)) == 1
    assert flags(history, day(30), RULE) == []


def test_a_backdated_change_recorded_late_raises_in_the_past() -> None:
    history = [life_change(day(0), recorded=day(40))]
    assert flags(history, day(39), RULE) == []
    [flag] = flags(history, day(40), RULE)
    assert flag.raised_at == day(14)
