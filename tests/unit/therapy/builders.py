"""Ready-made commands and events for therapy tests, changed per test with keywords."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.therapy.domain import (
    DECIDER,
    CancelSession,
    ChangeCareStep,
    ChangeModality,
    Command,
    CompleteSession,
    EndEpisode,
    EpisodeState,
    MarkSessionMissed,
    ScheduleSession,
    SessionScheduled,
    StartEpisode,
    TherapyEpisodeStarted,
    decide,
)
from shared.errors import DomainError
from shared.events import DomainEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
PATIENT = "patient-7f3a"
EPISODE = "ep-0001"
SESSION = "se-0001"
IDS = {"patient_id": PATIENT, "episode_id": EPISODE}


def start(**changes: Any) -> StartEpisode:
    return replace(StartEpisode(**IDS, modality="cbt", care_step=2, started_at=T0, therapist_id="staff-21",
                                setting="individual"), **changes)


def schedule(**changes: Any) -> ScheduleSession:
    return replace(ScheduleSession(**IDS, session_id=SESSION, scheduled_at=T0 + WEEK, booked_at=T0), **changes)


def complete(**changes: Any) -> CompleteSession:
    return replace(CompleteSession(**IDS, session_id=SESSION, completed_at=T0 + WEEK, duration_min=50,
                                   techniques=("thought_record",), homework=("activity_scheduling",)), **changes)


def miss(**changes: Any) -> MarkSessionMissed:
    return replace(MarkSessionMissed(PATIENT, EPISODE, SESSION), **changes)


def cancel(**changes: Any) -> CancelSession:
    return replace(CancelSession(**IDS, session_id=SESSION, cancelled_at=T0 + WEEK - timedelta(days=2),
                                 by="patient"), **changes)


def change_modality(**changes: Any) -> ChangeModality:
    return replace(ChangeModality(**IDS, modality="behavioral_activation", reason="non_response",
                                  changed_at=T0 + 4 * WEEK), **changes)


def change_step(**changes: Any) -> ChangeCareStep:
    return replace(ChangeCareStep(**IDS, to_step=3, reason="partial_response", changed_at=T0 + 4 * WEEK),
                   **changes)


def end(**changes: Any) -> EndEpisode:
    return replace(EndEpisode(**IDS, reason="remission", ended_at=T0 + 12 * WEEK), **changes)


def started(**changes: Any) -> TherapyEpisodeStarted:
    fields: dict[str, Any] = {**IDS, "modality": "cbt", "care_step": 2, "therapist_id": "staff-21",
                              "setting": "individual", "occurred_at": T0}
    return TherapyEpisodeStarted(**(fields | changes))


def scheduled(session_id: str = SESSION, at: datetime = T0 + WEEK) -> SessionScheduled:
    return SessionScheduled(**IDS, session_id=session_id, scheduled_at=at, occurred_at=T0)


def given(*events: DomainEvent) -> EpisodeState:
    return DECIDER.fold(events)


def run(*commands: Command) -> tuple[EpisodeState, list[DomainEvent]]:
    """Decide each command on the state the previous ones left; all the events recorded."""
    state, recorded = DECIDER.initial, []
    for command in commands:
        events = decide(state, command)
        recorded.extend(events)
        state = DECIDER.fold(events, state)
    return state, recorded


def refusal(state: EpisodeState, command: Command) -> DomainError:
    """The error ``decide`` refuses the command with (the test fails if it does not)."""
    with pytest.raises(DomainError) as info:
        decide(state, command)
    return info.value


def refused(kind: type[DomainError], field: str, state: EpisodeState, command: Command) -> str:
    """Assert the refusal's kind (hence HTTP status) and field; its reason for further checks."""
    error = refusal(state, command)
    assert type(error) is kind, error
    assert error.field == field, error
    return error.reason
