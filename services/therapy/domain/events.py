"""Events of one therapy episode (stream ``episode-<id>``, subject = the patient).

``occurred_at`` is clinical time from the command (start, completion, change …); the
envelope adds ``recorded_at``. Payloads carry pseudonymous ids and codes only — no free
text — so that they can travel to every consumer and stay on the topic for good.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from shared.events import DomainEvent

from .vocabulary import CancelledBy, Modality, Reason, Setting, Technique


class TherapyEpisodeStarted(DomainEvent):
    event_name: ClassVar[str] = "TherapyEpisodeStarted"

    patient_id: str
    episode_id: str
    modality: Modality
    care_step: int
    therapist_id: str | None = None
    setting: Setting | None = None


class SessionScheduled(DomainEvent):
    """A session was put in the calendar; ``occurred_at`` is when it was booked,
    ``scheduled_at`` when it is to take place."""

    event_name: ClassVar[str] = "SessionScheduled"

    patient_id: str
    episode_id: str
    session_id: str
    scheduled_at: datetime


class SessionCompleted(DomainEvent):
    event_name: ClassVar[str] = "SessionCompleted"

    patient_id: str
    episode_id: str
    session_id: str
    duration_min: int
    techniques: tuple[Technique, ...] = ()
    homework: tuple[Technique, ...] = ()


class SessionMissed(DomainEvent):
    """The patient did not come; ``occurred_at`` is the missed appointment's time."""

    event_name: ClassVar[str] = "SessionMissed"

    patient_id: str
    episode_id: str
    session_id: str


class SessionCancelled(DomainEvent):
    """Called off ahead; ``by`` matters downstream: a patient's cancellation counts
    toward disengagement, the clinic's does not."""

    event_name: ClassVar[str] = "SessionCancelled"

    patient_id: str
    episode_id: str
    session_id: str
    by: CancelledBy


class ModalityChanged(DomainEvent):
    event_name: ClassVar[str] = "ModalityChanged"

    patient_id: str
    episode_id: str
    from_modality: Modality
    to_modality: Modality
    reason: Reason


class CareStepChanged(DomainEvent):
    """A move in stepped care; ``to_step > from_step`` is a step up, which enacts an
    escalation for coordination's rules."""

    event_name: ClassVar[str] = "CareStepChanged"

    patient_id: str
    episode_id: str
    from_step: int
    to_step: int
    reason: Reason


class TherapyEpisodeEnded(DomainEvent):
    event_name: ClassVar[str] = "TherapyEpisodeEnded"

    patient_id: str
    episode_id: str
    reason: Reason


TherapyEvent = (TherapyEpisodeStarted | SessionScheduled | SessionCompleted | SessionMissed | SessionCancelled
                | ModalityChanged | CareStepChanged | TherapyEpisodeEnded)

THERAPY_EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    TherapyEpisodeStarted,
    SessionScheduled,
    SessionCompleted,
    SessionMissed,
    SessionCancelled,
    ModalityChanged,
    CareStepChanged,
    TherapyEpisodeEnded,
)
