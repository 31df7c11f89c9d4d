"""An episode's life: start, modality and care-step changes, end, and every refusal."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.therapy.domain import (
    Active,
    CareStepChanged,
    Command,
    Ended,
    ModalityChanged,
    NotStarted,
    TherapyEpisodeEnded,
    TherapyEpisodeStarted,
    decide,
)
from shared.errors import Conflict, NotFound, RuleViolation

from .builders import (
    EPISODE,
    PATIENT,
    T0,
    WEEK,
    cancel,
    change_modality,
    change_step,
    complete,
    end,
    given,
    miss,
    refused,
    run,
    schedule,
    start,
    started,
)

NAIVE = datetime(2026, 3, 2, 9, 0)


def test_starting_records_the_episode_and_makes_it_active() -> None:
    state, events = run(start())
    assert events == [started()]
    assert isinstance(state, Active)
    assert (state.episode.modality, state.episode.care_step, state.episode.started_at) == ("cbt", 2, T0)


def test_optional_start_fields_may_be_left_out() -> None:
    [event] = decide(NotStarted(), start(therapist_id=None, setting=None))
    assert isinstance(event, TherapyEpisodeStarted)
    assert event.therapist_id is None and event.setting is None
    [event] = decide(NotStarted(), start(therapist_id="  "))
    assert isinstance(event, TherapyEpisodeStarted) and event.therapist_id is None


def test_an_episode_starts_once() -> None:
    refused(Conflict, "episode_id", given(started()), start())


@pytest.mark.parametrize(("changes", "field"), [
    ({"modality": "hypnosis"}, "modality"),
    ({"care_step": 0}, "care_step"),
    ({"care_step": 5}, "care_step"),
    ({"care_step": True}, "care_step"),
    ({"setting": "couch"}, "setting"),
    ({"therapist_id": "x" * 101}, "therapist_id"),
    ({"started_at": NAIVE}, "started_at"),
])
def test_bad_start_input_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    refused(RuleViolation, field, NotStarted(), start(**changes))


@pytest.mark.parametrize("command", [schedule(), complete(), miss(), cancel(), change_modality(), change_step(),
                                     end()])
def test_nothing_but_a_start_is_accepted_before_the_episode_exists(command: Command) -> None:
    refused(NotFound, "episode_id", NotStarted(), command)


@pytest.mark.parametrize("other", [{"patient_id": "patient-other"}, {"episode_id": "ep-other"}])
def test_an_episode_of_another_patient_or_id_is_not_disclosed(other: dict[str, str]) -> None:
    refused(NotFound, "episode_id", given(started()), change_step(**other))
    ended, _ = run(start(), end())
    refused(NotFound, "episode_id", ended, change_step(**other))  # not even that it ended


def test_a_modality_change_records_from_and_to() -> None:
    state, events = run(start(), change_modality())
    assert events[-1] == ModalityChanged(patient_id=PATIENT, episode_id=EPISODE, from_modality="cbt",
                                         to_modality="behavioral_activation", reason="non_response",
                                         occurred_at=T0 + 4 * WEEK)
    assert isinstance(state, Active) and state.episode.modality == "behavioral_activation"


def test_a_modality_change_must_change_the_modality() -> None:
    reason = refused(RuleViolation, "modality", given(started()), change_modality(modality="cbt"))
    assert "differ" in reason


@pytest.mark.parametrize(("changes", "field"), [
    ({"modality": "hypnosis"}, "modality"),
    ({"reason": "because"}, "reason"),
    ({"changed_at": NAIVE}, "changed_at"),
    ({"changed_at": T0 - timedelta(minutes=1)}, "changed_at"),
])
def test_bad_modality_changes_are_refused(changes: dict[str, object], field: str) -> None:
    refused(RuleViolation, field, given(started()), change_modality(**changes))


def test_a_modality_change_cannot_predate_the_previous_one() -> None:
    state, _ = run(start(), change_modality())
    refused(RuleViolation, "changed_at", state, change_modality(modality="act", changed_at=T0 + 2 * WEEK))


def test_care_steps_move_up_and_down_with_the_step_before() -> None:
    state, events = run(start(), change_step(), change_step(to_step=1, reason="remission",
                                                            changed_at=T0 + 8 * WEEK))
    assert [(e.from_step, e.to_step) for e in events if isinstance(e, CareStepChanged)] == [(2, 3), (3, 1)]
    assert isinstance(state, Active) and state.episode.care_step == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"to_step": 2}, "to_step"),  # the current step: not a move
    ({"to_step": 0}, "to_step"),
    ({"to_step": 5}, "to_step"),
    ({"reason": "escalation"}, "reason"),
    ({"changed_at": NAIVE}, "changed_at"),
    ({"changed_at": T0 - timedelta(days=1)}, "changed_at"),
])
def test_bad_care_step_changes_are_refused(changes: dict[str, object], field: str) -> None:
    refused(RuleViolation, field, given(started()), change_step(**changes))


def test_a_care_step_change_cannot_predate_the_previous_one() -> None:
    state, _ = run(start(), change_step())
    refused(RuleViolation, "changed_at", state, change_step(to_step=4, changed_at=T0 + 3 * WEEK))


def test_ending_records_the_reason_and_closes_the_episode() -> None:
    state, events = run(start(), end())
    assert events[-1] == TherapyEpisodeEnded(patient_id=PATIENT, episode_id=EPISODE, reason="remission",
                                             occurred_at=T0 + 12 * WEEK)
    assert isinstance(state, Ended) and state.reason == "remission" and state.ended_at == T0 + 12 * WEEK


@pytest.mark.parametrize("command", [schedule(session_id="se-new"), complete(), miss(), cancel(),
                                     change_modality(), change_step(), end()])
def test_nothing_is_recorded_on_an_ended_episode(command: Command) -> None:
    state, _ = run(start(), schedule(), end())
    reason = refused(Conflict, "episode_id", state, command)
    assert "ended" in reason


def test_an_end_cannot_predate_what_the_episode_recorded() -> None:
    state, _ = run(start(), schedule(), complete())
    refused(RuleViolation, "ended_at", state, end(ended_at=T0 + WEEK - timedelta(minutes=1)))
    refused(RuleViolation, "ended_at", given(started()), end(ended_at=T0 - timedelta(minutes=1)))
    refused(RuleViolation, "reason", given(started()), end(reason="finished"))
    refused(RuleViolation, "ended_at", given(started()), end(ended_at=NAIVE))
