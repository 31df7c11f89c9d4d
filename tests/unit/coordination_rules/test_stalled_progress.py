"""Stalled progress: no response 56 days after the baseline at one care step, and no escalation decided."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import (
    clinic,
    day,
    episode_started,
    escalated,
    flags,
    scored,
    step_changed,
)

RULE = "stalled_progress"
STEP = episode_started(day(-1), step=1)


def test_raised_at_baseline_plus_56_days_when_the_latest_score_is_above_half() -> None:
    history = [STEP, baseline := scored("PHQ-9", 16, day(0)), latest := scored("PHQ-9", 12, day(28))]
    assert flags(history, day(55), RULE) == []
    [flag] = flags(history, day(56), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.severity) == (day(56), None, "warning")
    assert flag.evidence == (baseline.event_id, latest.event_id)
    assert flag.explanation == ("PHQ-9 12 against baseline 16 of 2026-03-02: under 50% reduction after 56 days "
                                "at one care step and no escalation decided")


def test_exactly_half_of_baseline_is_a_response() -> None:
    assert flags([STEP, scored("PHQ-9", 16, day(0)), scored("PHQ-9", 8, day(40))], day(90), RULE) == []
    history = [STEP, scored("PHQ-9", 16, day(0)), scored("PHQ-9", 9, day(40))]
    assert len(flags(history, day(90), RULE)) == 1


def test_a_later_response_resolves_it() -> None:
    history = [STEP, scored("PHQ-9", 16, day(0)), scored("PHQ-9", 10, day(58)), later := scored("PHQ-9", 8, day(60))]
    [flag] = flags(history, day(90), RULE)
    assert (flag.resolved_at, flag.resolved_by) == (day(60), later.event_id)


def test_an_escalation_since_baseline_prevents_it_and_one_after_resolves_it() -> None:
    assert flags([STEP, scored("PHQ-9", 16, day(0)), escalated(day(30))], day(90), RULE) == []
    history = [STEP, scored("PHQ-9", 16, day(0)), decision := escalated(day(70))]
    [flag] = flags(history, day(90), RULE)
    assert (flag.resolved_at, flag.resolved_by) == (day(70), decision.event_id)


def test_a_baseline_below_five_cannot_stall_and_five_can() -> None:
    assert flags([STEP, scored("GAD-7", 4, day(0))], day(90), RULE) == []
    [flag] = flags([STEP, scored("GAD-7", 5, day(0))], day(90), RULE)
    assert flag.explanation.startswith("GAD-7 5 against baseline 5")


def test_a_step_change_starts_a_new_baseline() -> None:
    history = [STEP, scored("PHQ-9", 16, day(0)), step_changed(day(30), 1, 2), scored("PHQ-9", 14, day(35)),
               scored("PHQ-9", 13, day(80))]
    [flag] = flags(history, day(100), RULE)
    assert flag.raised_at == day(91)  # 56 days after the first score at step 2
    assert flag.explanation.startswith("PHQ-9 13 against baseline 14 of 2026-04-06")


def test_each_instrument_is_followed_and_others_are_ignored() -> None:
    history = [STEP, scored("PHQ-9", 16, day(0)), scored("PHQ-15", 12, day(1)), scored("ISI", 20, day(0))]
    found = flags(history, day(90), RULE)
    assert [f.explanation.split()[0] for f in found] == ["PHQ-9", "PHQ-15"]
    assert found[0].flag_id != found[1].flag_id


def test_without_a_therapy_episode_the_first_score_is_the_baseline() -> None:
    [flag] = flags([scored("PHQ-9", 16, day(0)), scored("PHQ-9", 15, day(20))], day(90), RULE)
    assert flag.raised_at == day(56)


def test_a_clinic_override_shortens_the_wait() -> None:
    history = [STEP, scored("PHQ-9", 16, day(0))]
    [flag] = flags(history, day(90), RULE, clinic('[clinics."clinic-b".stalled_progress]\ndays = 28\n'))
    assert flag.raised_at == day(28)
    assert flag.thresholds["instruments"] == ("PHQ-9", "PHQ-15", "GAD-7")


def test_a_backdated_response_recorded_late_means_it_never_stalled() -> None:
    history = [STEP, scored("PHQ-9", 16, day(0)), scored("PHQ-9", 6, day(50), recorded=day(70))]
    [flag] = flags(history, day(69), RULE)
    assert flag.raised_at == day(56)
    assert flags(history, day(70), RULE) == []


def test_a_clinic_may_count_a_smaller_drop_as_a_response() -> None:
    config = clinic('[clinics."clinic-b".stalled_progress]\nresponse_reduction = 0.4\n')
    assert flags([STEP, scored("PHQ-9", 20, day(0)), scored("PHQ-9", 12, day(40))], day(90), RULE, config) == []
    [flag] = flags([STEP, scored("PHQ-9", 20, day(0)), scored("PHQ-9", 13, day(40))], day(90), RULE, config)
    assert "under 40% reduction" in flag.explanation
