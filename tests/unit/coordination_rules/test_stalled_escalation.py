"""Stalled escalation: raised at due_by when nothing enacted the decision, resolved by the first act after."""

from __future__ import annotations

from datetime import timedelta

from services.coordination.rules import HistoryEvent
from tests.unit.coordination_rules.builders import (
    MIRTAZAPINE,
    SERTRALINE,
    adjusted,
    clinic,
    day,
    episode_started,
    escalated,
    flags,
    modality_changed,
    started,
    step_changed,
)

RULE = "stalled_escalation"
ON = [started(SERTRALINE, day(-30)), episode_started(day(-30), step=2)]


def test_raised_at_due_by_exactly_and_not_a_minute_before() -> None:
    history = [*ON, decision := escalated(day(0))]
    assert flags(history, day(14) - timedelta(minutes=1), RULE) == []
    [flag] = flags(history, day(14), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.severity) == (day(14), None, "warning")
    assert flag.evidence == (decision.event_id,)
    assert flag.explanation == "escalation decided 2026-03-02 not enacted by 2026-03-16 (its due date)"


def test_an_act_on_the_due_date_enacts_it_and_one_after_resolves_the_flag() -> None:
    assert flags([*ON, escalated(day(0)), adjusted("course-36437", day(14))], day(30), RULE) == []
    history = [*ON, escalated(day(0)), act := adjusted("course-36437", day(20))]
    [flag] = flags(history, day(30), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.resolved_by) == (day(14), day(20), act.event_id)


def test_each_kind_of_enacting_event_counts() -> None:
    for act in (adjusted("course-36437", day(3), "decrease"), started(MIRTAZAPINE, day(3)),
                modality_changed(day(3)), step_changed(day(3), 2, 3)):
        assert flags([*ON, escalated(day(0)), act], day(30), RULE) == [], act.event_name


def test_a_unit_change_a_step_down_or_an_act_before_the_decision_do_not_count() -> None:
    for act in (adjusted("course-36437", day(3), "unit_change"), step_changed(day(3), 2, 1),
                adjusted("course-36437", day(-1))):
        [flag] = flags([*ON, escalated(day(0)), act], day(30), RULE)
        assert flag.raised_at == day(14), act.event_name


def test_the_decisions_own_due_date_is_kept() -> None:
    [flag] = flags([*ON, escalated(day(0), due_by=day(5))], day(30), RULE)
    assert flag.raised_at == day(5)


def test_without_a_due_date_the_clinics_days_apply() -> None:
    decision = escalated(day(0))
    payload = {k: v for k, v in decision.payload.items() if k != "due_by"}
    bare = HistoryEvent(decision.event_id, decision.service, decision.event_name, decision.occurred_at,
                        decision.recorded_at, decision.stream_id, payload)
    [flag] = flags([*ON, bare], day(30), RULE, clinic('[clinics."clinic-b".stalled_escalation]\ndays = 10\n'))
    assert flag.raised_at == day(10)
    assert flag.explanation.endswith("(the default 10 days)")
    assert dict(flag.thresholds) == {"days": 10}


def test_every_decision_is_its_own_flag_and_one_act_can_resolve_both() -> None:
    history = [*ON, escalated(day(0)), escalated(day(2)), act := step_changed(day(25), 2, 3)]
    first, second = flags(history, day(30), RULE)
    assert (first.raised_at, second.raised_at) == (day(14), day(16))
    assert first.resolved_by == second.resolved_by == act.event_id
    assert first.flag_id != second.flag_id


def test_a_backdated_act_recorded_late_means_it_was_never_stalled() -> None:
    history = [*ON, escalated(day(0)), adjusted("course-36437", day(5), recorded=day(20))]
    [flag] = flags(history, day(19), RULE)
    assert flag.raised_at == day(14) and flag.resolved_at is None
    assert flags(history, day(20), RULE) == []


def test_a_backdated_act_after_due_by_resolves_it_in_the_past() -> None:
    history = [*ON, escalated(day(0)), adjusted("course-36437", day(16), recorded=day(25))]
    assert flags(history, day(24), RULE)[0].resolved_at is None
    assert flags(history, day(25), RULE)[0].resolved_at == day(16)
