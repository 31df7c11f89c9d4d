"""The state of one therapy episode, folded from its events: a union of lifecycle stages.

An episode is ``NotStarted``, ``Active`` or ``Ended``; each of its sessions is
``Scheduled``, ``Completed``, ``Missed`` or ``Cancelled``. Each stage holds exactly the
fields that exist in it, so no rule has to guard against a None that cannot happen. The
stream version is not part of the state: the command handler tracks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import assert_never

from shared.events import DomainEvent

from .events import (
    CareStepChanged,
    ModalityChanged,
    SessionCancelled,
    SessionCompleted,
    SessionMissed,
    SessionScheduled,
    TherapyEpisodeEnded,
    TherapyEpisodeStarted,
    TherapyEvent,
)
from .vocabulary import CancelledBy, Modality, Reason, Setting, Technique


@dataclass(frozen=True)
class Scheduled:
    scheduled_at: datetime


@dataclass(frozen=True)
class Completed:
    scheduled_at: datetime
    completed_at: datetime
    duration_min: int
    techniques: tuple[Technique, ...]
    homework: tuple[Technique, ...]


@dataclass(frozen=True)
class Missed:
    scheduled_at: datetime
    missed_at: datetime


@dataclass(frozen=True)
class Cancelled:
    scheduled_at: datetime
    cancelled_at: datetime
    by: CancelledBy


Session = Scheduled | Completed | Missed | Cancelled


@dataclass(frozen=True)
class Episode:
    """What an episode holds once started, active or ended alike."""

    patient_id: str
    episode_id: str
    modality: Modality
    care_step: int
    therapist_id: str | None
    setting: Setting | None
    started_at: datetime
    # Times of the latest change of each kind: a change dated before them would record a
    # wrong "from" value, and an end dated before the latest outcome would misorder the timeline.
    modality_changed_at: datetime
    step_changed_at: datetime
    latest_at: datetime
    sessions: Mapping[str, Session] = field(default_factory=lambda: MappingProxyType({}))

    def with_session(self, session_id: str, session: Session, at: datetime | None = None) -> Episode:
        sessions = MappingProxyType({**self.sessions, session_id: session})
        latest = self.latest_at if at is None else max(self.latest_at, at)
        return replace(self, sessions=sessions, latest_at=latest)


@dataclass(frozen=True)
class NotStarted:
    pass


@dataclass(frozen=True)
class Active:
    episode: Episode


@dataclass(frozen=True)
class Ended:
    episode: Episode
    ended_at: datetime
    reason: Reason


EpisodeState = NotStarted | Active | Ended

INITIAL_STATE: EpisodeState = NotStarted()


class InconsistentHistory(ValueError):
    """A stored stream that ``decide`` could never have produced (a bug or tampering);
    raised while folding, never a refusal of a command."""


def _started(event: TherapyEpisodeStarted) -> Active:
    at = event.occurred_at
    return Active(Episode(patient_id=event.patient_id, episode_id=event.episode_id, modality=event.modality,
                          care_step=event.care_step, therapist_id=event.therapist_id, setting=event.setting,
                          started_at=at, modality_changed_at=at, step_changed_at=at, latest_at=at))


def _on_active(state: EpisodeState, event: TherapyEvent, change: Callable[[Episode], Episode]) -> Active:
    if not isinstance(state, Active):
        raise InconsistentHistory(f"{event.event_name} on an episode that is not active")
    return Active(change(state.episode))


def _scheduled_at(episode: Episode, session_id: str) -> datetime:
    session = episode.sessions.get(session_id)
    if not isinstance(session, Scheduled):
        raise InconsistentHistory("an outcome for a session that is not scheduled")
    return session.scheduled_at


def _apply(state: EpisodeState, event: TherapyEvent) -> EpisodeState:
    at = event.occurred_at
    match event:
        case TherapyEpisodeStarted():
            if not isinstance(state, NotStarted):
                raise InconsistentHistory("an episode started twice")
            return _started(event)
        case SessionScheduled(session_id=sid, scheduled_at=when):
            return _on_active(state, event, lambda ep: ep.with_session(sid, Scheduled(when)))
        case SessionCompleted(session_id=sid):
            return _on_active(state, event, lambda ep: ep.with_session(sid, Completed(
                _scheduled_at(ep, sid), at, event.duration_min, event.techniques, event.homework), at))
        case SessionMissed(session_id=sid):
            return _on_active(state, event, lambda ep: ep.with_session(sid, Missed(_scheduled_at(ep, sid), at), at))
        case SessionCancelled(session_id=sid, by=by):
            return _on_active(state, event, lambda ep: ep.with_session(
                sid, Cancelled(_scheduled_at(ep, sid), at, by), at))
        case ModalityChanged(to_modality=modality):
            return _on_active(state, event, lambda ep: replace(
                ep, modality=modality, modality_changed_at=at, latest_at=max(ep.latest_at, at)))
        case CareStepChanged(to_step=step):
            return _on_active(state, event, lambda ep: replace(
                ep, care_step=step, step_changed_at=at, latest_at=max(ep.latest_at, at)))
        case TherapyEpisodeEnded(reason=reason):
            return Ended(_on_active(state, event, lambda ep: ep).episode, at, reason)
        case _:
            assert_never(event)


def evolve(state: EpisodeState, event: DomainEvent) -> EpisodeState:
    """Apply one recorded event. Never refuses a fact; a foreign or impossible event is
    :class:`InconsistentHistory`."""
    if not isinstance(event, TherapyEvent):
        raise InconsistentHistory(f"not a therapy event: {type(event).__name__}")
    return _apply(state, event)


def replay(events: Iterable[DomainEvent], state: EpisodeState = INITIAL_STATE) -> EpisodeState:
    for event in events:
        state = evolve(state, event)
    return state
