"""Commands on one therapy episode: what a therapist or a coordinator asks for.

Commands carry input that is not yet trusted (a code may be unknown, a time naive);
``decide`` validates them and refuses with a DomainError naming the field. Every time
comes from the command, never from a clock: the shell supplies ``booked_at`` (when a
session was put in the calendar) because that moment is the request's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class OnEpisode:
    """Every command names the patient and the episode; a mismatch is a 404."""

    patient_id: str
    episode_id: str


@dataclass(frozen=True)
class OnSession(OnEpisode):
    session_id: str


@dataclass(frozen=True)
class StartEpisode(OnEpisode):
    modality: str
    care_step: int
    started_at: datetime
    therapist_id: str | None = None
    setting: str | None = None


@dataclass(frozen=True)
class ScheduleSession(OnSession):
    scheduled_at: datetime
    booked_at: datetime


@dataclass(frozen=True)
class CompleteSession(OnSession):
    completed_at: datetime
    duration_min: int
    techniques: tuple[str, ...] = ()
    homework: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarkSessionMissed(OnSession):
    """A no-show; ``missed_at`` None means at the scheduled time."""

    missed_at: datetime | None = None


@dataclass(frozen=True)
class CancelSession(OnSession):
    cancelled_at: datetime
    by: str


@dataclass(frozen=True)
class ChangeModality(OnEpisode):
    modality: str
    reason: str
    changed_at: datetime


@dataclass(frozen=True)
class ChangeCareStep(OnEpisode):
    to_step: int
    reason: str
    changed_at: datetime


@dataclass(frozen=True)
class EndEpisode(OnEpisode):
    reason: str
    ended_at: datetime


SessionCommand = CompleteSession | MarkSessionMissed | CancelSession
Command = (StartEpisode | ScheduleSession | CompleteSession | MarkSessionMissed | CancelSession
           | ChangeModality | ChangeCareStep | EndEpisode)
