"""Sessions as a state machine: scheduled → completed | missed | cancelled, and every refusal."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.therapy.domain import (
    Active,
    Cancelled,
    Command,
    Completed,
    EpisodeState,
    Missed,
    Scheduled,
    Session,
    SessionCancelled,
    SessionCompleted,
    SessionMissed,
    SessionScheduled,
    decide,
)
from shared.errors import Conflict, NotFound, RuleViolation

from .builders import (
    EPISODE,
    PATIENT,
    SESSION,
    T0,
    WEEK,
    cancel,
    complete,
    given,
    miss,
    refused,
    run,
    schedule,
    start,
    started,
)

DAY = timedelta(days=1)
NAIVE = datetime(2026, 3, 9, 9, 0)


def booked(**changes: object) -> EpisodeState:
    state, _ = run(start(), schedule(**changes))
    return state


def session(state: EpisodeState, session_id: str = SESSION) -> Session:
    assert isinstance(state, Active)
    return state.episode.sessions[session_id]


def test_scheduling_books_a_session() -> None:
    state, events = run(start(), schedule())
    assert events[-1] == SessionScheduled(patient_id=PATIENT, episode_id=EPISODE, session_id=SESSION,
                                          scheduled_at=T0 + WEEK, occurred_at=T0)
    assert session(state) == Scheduled(T0 + WEEK)


def test_a_session_entered_after_it_took_place_was_booked_by_its_own_time() -> None:
    [event] = decide(given(started()), schedule(scheduled_at=T0 + DAY, booked_at=T0 + WEEK))
    assert isinstance(event, SessionScheduled) and event.occurred_at == T0 + DAY


@pytest.mark.parametrize(("changes", "field", "kind"), [
    ({"scheduled_at": T0 - timedelta(minutes=1)}, "scheduled_at", RuleViolation),
    ({"scheduled_at": NAIVE}, "scheduled_at", RuleViolation),
    ({"booked_at": NAIVE}, "booked_at", RuleViolation),
])
def test_bad_schedules_are_refused(changes: dict[str, object], field: str, kind: type) -> None:
    refused(kind, field, given(started()), schedule(**changes))


def test_a_session_id_is_booked_once() -> None:
    refused(Conflict, "session_id", booked(), schedule())


def test_completion_records_duration_techniques_and_homework() -> None:
    state, events = run(start(), schedule(), complete())
    assert events[-1] == SessionCompleted(patient_id=PATIENT, episode_id=EPISODE, session_id=SESSION,
                                          duration_min=50, techniques=("thought_record",),
                                          homework=("activity_scheduling",), occurred_at=T0 + WEEK)
    assert session(state) == Completed(T0 + WEEK, T0 + WEEK, 50, ("thought_record",), ("activity_scheduling",))


def test_repeated_codes_are_kept_once_in_their_order() -> None:
    [event] = decide(booked(), complete(techniques=("relaxation", "pacing", "relaxation"), homework=()))
    assert isinstance(event, SessionCompleted)
    assert event.techniques == ("relaxation", "pacing") and event.homework == ()


def test_a_session_may_be_held_up_to_a_day_early_but_no_earlier() -> None:
    decide(booked(), complete(completed_at=T0 + WEEK - DAY))
    too_early = T0 + WEEK - DAY - timedelta(seconds=1)
    reason = refused(RuleViolation, "completed_at", booked(), complete(completed_at=too_early))
    assert "scheduled" in reason


@pytest.mark.parametrize(("changes", "field"), [
    ({"duration_min": 0}, "duration_min"),
    ({"duration_min": 241}, "duration_min"),
    ({"duration_min": True}, "duration_min"),
    ({"techniques": ("thought_record", "hypnosis")}, "techniques.1"),
    ({"homework": ("journaling",)}, "homework.0"),
    ({"completed_at": NAIVE}, "completed_at"),
])
def test_bad_completions_are_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    refused(RuleViolation, field, booked(), complete(**changes))


def test_a_session_near_the_episode_start_cannot_be_held_before_the_start() -> None:
    state, _ = run(start(), schedule(scheduled_at=T0 + timedelta(hours=2)))
    refused(RuleViolation, "completed_at", state, complete(completed_at=T0 - timedelta(hours=1)))
    refused(RuleViolation, "missed_at", state, miss(missed_at=T0 - timedelta(hours=1)))


def test_a_no_show_is_at_the_scheduled_time_unless_given() -> None:
    state, events = run(start(), schedule(), miss())
    assert events[-1] == SessionMissed(patient_id=PATIENT, episode_id=EPISODE, session_id=SESSION,
                                       occurred_at=T0 + WEEK)
    assert session(state) == Missed(T0 + WEEK, T0 + WEEK)
    [event] = decide(booked(), miss(missed_at=T0 + WEEK + timedelta(minutes=20)))
    assert event.occurred_at == T0 + WEEK + timedelta(minutes=20)


def test_a_no_show_cannot_be_long_before_the_appointment() -> None:
    refused(RuleViolation, "missed_at", booked(), miss(missed_at=T0 + WEEK - 2 * DAY))
    refused(RuleViolation, "missed_at", booked(), miss(missed_at=NAIVE))


def test_cancellation_records_who_called_it_off() -> None:
    state, events = run(start(), schedule(), cancel(by="clinic"))
    assert events[-1] == SessionCancelled(patient_id=PATIENT, episode_id=EPISODE, session_id=SESSION,
                                          by="clinic", occurred_at=T0 + WEEK - 2 * DAY)
    assert session(state) == Cancelled(T0 + WEEK, T0 + WEEK - 2 * DAY, "clinic")


@pytest.mark.parametrize(("changes", "field"), [
    ({"by": "therapist"}, "by"),
    ({"cancelled_at": NAIVE}, "cancelled_at"),
    ({"cancelled_at": T0 - DAY}, "cancelled_at"),
])
def test_bad_cancellations_are_refused(changes: dict[str, object], field: str) -> None:
    refused(RuleViolation, field, booked(), cancel(**changes))


OUTCOMES: dict[str, Command] = {"completed": complete(), "marked missed": miss(), "cancelled": cancel()}


@pytest.mark.parametrize("first", list(OUTCOMES))
@pytest.mark.parametrize("then", list(OUTCOMES))
def test_a_session_has_one_outcome(first: str, then: str) -> None:
    """Completed twice, after a no-show or a cancellation, missed or cancelled afterwards: 409."""
    state, _ = run(start(), schedule(), OUTCOMES[first])
    reason = refused(Conflict, "session_id", state, OUTCOMES[then])
    assert reason == f"the session was already {first}"


@pytest.mark.parametrize("command", list(OUTCOMES.values()))
def test_an_unknown_session_is_not_found(command: Command) -> None:
    refused(NotFound, "session_id", given(started()), command)


def test_each_session_keeps_its_own_state() -> None:
    state, _ = run(start(), schedule(), schedule(session_id="se-2", scheduled_at=T0 + 2 * WEEK),
                   complete(), miss(session_id="se-2"))
    assert isinstance(session(state), Completed)
    assert isinstance(session(state, "se-2"), Missed)
