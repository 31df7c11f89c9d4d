"""Disengagement: missed sessions in a row, or three weeks without a completed session, in an open episode."""

from __future__ import annotations

from tests.unit.coordination_rules.builders import (
    cancelled,
    clinic,
    completed,
    day,
    episode_ended,
    episode_started,
    flags,
    missed,
)

RULE = "disengagement"


def test_raised_at_the_second_missed_session_and_resolved_by_the_next_completed_one() -> None:
    history = [episode_started(day(0)), anchor := completed(day(7)), first := missed(day(14)),
               second := missed(day(20)), back := completed(day(24))]
    assert flags(history, day(19), RULE) == []
    [flag] = flags(history, day(30), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.resolved_by) == (day(20), day(24), back.event_id)
    assert flag.evidence == (anchor.event_id, first.event_id, second.event_id)
    assert flag.explanation == "2 sessions missed in a row by 2026-03-22 (threshold 2)"


def test_a_clinic_cancellation_neither_counts_nor_breaks_the_run() -> None:
    history = [episode_started(day(0)), missed(day(7)), cancelled(day(9), "clinic"), missed(day(12))]
    [flag] = flags(history, day(14), RULE)
    assert flag.raised_at == day(12)
    assert flags([episode_started(day(0)), missed(day(7)), cancelled(day(9), "clinic")], day(14), RULE) == []


def test_a_patient_cancellation_counts_as_missed() -> None:
    [flag] = flags([episode_started(day(0)), missed(day(7)), cancelled(day(9), "patient")], day(14), RULE)
    assert flag.raised_at == day(9)


def test_a_completed_session_breaks_the_run() -> None:
    assert flags([episode_started(day(0)), missed(day(7)), completed(day(9)), missed(day(12))], day(20), RULE) == []


def test_21_days_without_a_completed_session_raise_it_at_the_deadline() -> None:
    history = [episode_started(day(0)), anchor := completed(day(5))]
    assert flags(history, day(25.9), RULE) == []
    [flag] = flags(history, day(26), RULE)
    assert (flag.raised_at, flag.evidence) == (day(26), (anchor.event_id,))
    assert flag.explanation == "no completed session for 21 days since 2026-03-07 in an open therapy episode"


def test_a_session_completed_on_the_deadline_is_in_time() -> None:
    assert flags([episode_started(day(0)), completed(day(5)), completed(day(26))], day(40), RULE) == []


def test_the_gap_counts_from_the_episode_start_and_one_flag_covers_both_triggers() -> None:
    history = [episode_started(day(0)), missed(day(19)), missed(day(25))]
    [flag] = flags(history, day(30), RULE)
    assert flag.raised_at == day(21)


def test_an_ended_episode_raises_nothing_and_its_end_resolves_an_open_flag() -> None:
    assert flags([episode_started(day(0)), episode_ended(day(20))], day(60), RULE) == []
    history = [episode_started(day(0)), missed(day(3)), missed(day(6)), end := episode_ended(day(10))]
    [flag] = flags(history, day(60), RULE)
    assert (flag.raised_at, flag.resolved_at, flag.resolved_by) == (day(6), day(10), end.event_id)


def test_a_clinic_override_needs_three_misses() -> None:
    history = [episode_started(day(0)), missed(day(2)), missed(day(4))]
    config = clinic('[clinics."clinic-b".disengagement]\nmissed_in_a_row = 3\n')
    assert flags(history, day(5), RULE, config) == []
    [flag] = flags([*history, missed(day(6))], day(7), RULE, config)
    assert flag.raised_at == day(6)


def test_a_backdated_completed_session_recorded_late_breaks_the_run_in_the_past() -> None:
    history = [episode_started(day(0)), missed(day(7)), completed(day(10), recorded=day(30)), missed(day(12))]
    [flag] = flags(history, day(29), RULE)
    assert flag.raised_at == day(12) and flag.resolved_at is None
    assert flags(history, day(30), RULE) == []


def test_a_backdated_completed_session_after_the_flag_resolves_it_in_the_past() -> None:
    history = [episode_started(day(0)), missed(day(7)), missed(day(12)), completed(day(15), recorded=day(30))]
    assert flags(history, day(29), RULE)[0].resolved_at is None
    assert flags(history, day(30), RULE)[0].resolved_at == day(15)


def test_each_episode_is_followed_apart() -> None:
    history = [episode_started(day(0), episode="a"), episode_started(day(0), episode="b"),
               missed(day(3), episode="a"), missed(day(4), episode="b"), completed(day(5), episode="b"),
               completed(day(6), episode="a")]
    assert flags(history, day(7), RULE) == []
