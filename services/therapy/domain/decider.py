"""The therapy episode as a decider: ``decide(state, command)`` and ``DECIDER``.

Pure: no clock, no I/O. Refusals are ``NotFound`` (no such episode or session for this
patient: 404), ``Conflict`` (not possible in the current state: 409, e.g. anything on an
ended episode or a session that already has an outcome) and ``RuleViolation`` (bad input:
422 naming the field).
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never, cast

from shared.errors import Conflict, NotFound, RuleViolation
from shared.events import DomainEvent
from shared.handler import Decider

from . import rules
from .commands import (
    CancelSession,
    ChangeCareStep,
    ChangeModality,
    Command,
    CompleteSession,
    EndEpisode,
    MarkSessionMissed,
    ScheduleSession,
    SessionCommand,
    StartEpisode,
)
from .events import (
    CareStepChanged,
    ModalityChanged,
    SessionCancelled,
    SessionCompleted,
    SessionMissed,
    SessionScheduled,
    TherapyEpisodeEnded,
    TherapyEpisodeStarted,
)
from .state import (
    INITIAL_STATE,
    Active,
    Cancelled,
    Completed,
    Ended,
    Episode,
    EpisodeState,
    Missed,
    NotStarted,
    Scheduled,
    evolve,
)
from .vocabulary import (
    CANCELLED_BY,
    MAX_SESSION_MINUTES,
    MIN_SESSION_MINUTES,
    MODALITIES,
    REASONS,
    SETTINGS,
    CancelledBy,
    Modality,
    Reason,
)

_OUTCOME = {Completed: "completed", Missed: "marked missed", Cancelled: "cancelled"}


def _open(state: EpisodeState, patient_id: str, episode_id: str) -> Episode:
    """The active episode, or the refusal: an episode of another patient is not disclosed."""
    match state:
        case NotStarted():
            raise NotFound("therapy episode not found", field="episode_id")
        case Active(episode) | Ended(episode) if episode.patient_id != patient_id or episode.episode_id != episode_id:
            raise NotFound("therapy episode not found", field="episode_id")
        case Ended():
            raise Conflict("the therapy episode has ended; nothing more is recorded on it", field="episode_id")
        case Active(episode):
            return episode
        case _:
            assert_never(state)


def _scheduled(episode: Episode, session_id: str) -> Scheduled:
    """A session still waiting for its outcome; one that has it is a conflict."""
    session = episode.sessions.get(session_id)
    match session:
        case None:
            raise NotFound("session not found", field="session_id")
        case Scheduled():
            return session
        case Completed() | Missed() | Cancelled():
            raise Conflict(f"the session was already {_OUTCOME[type(session)]}", field="session_id")
        case _:
            assert_never(session)


def _reason(reason: str) -> Reason:
    return cast(Reason, rules.one_of(reason, REASONS, "reason"))


def _start(state: EpisodeState, c: StartEpisode) -> list[DomainEvent]:
    if not isinstance(state, NotStarted):
        raise Conflict("the therapy episode already exists", field="episode_id")
    return [TherapyEpisodeStarted(
        patient_id=c.patient_id, episode_id=c.episode_id,
        modality=cast(Modality, rules.one_of(c.modality, MODALITIES, "modality")),
        care_step=rules.care_step(c.care_step, "care_step"),
        therapist_id=rules.text_id(c.therapist_id, "therapist_id"),
        setting=None if c.setting is None else rules.one_of(c.setting, SETTINGS, "setting"),
        occurred_at=rules.aware(c.started_at, "started_at"))]


def _schedule(episode: Episode, c: ScheduleSession) -> list[DomainEvent]:
    if c.session_id in episode.sessions:
        raise Conflict("the session already exists", field="session_id")
    scheduled_at = rules.not_before(c.scheduled_at, episode.started_at, "scheduled_at", "the episode start")
    # A session recorded after it took place was booked no later than its own time; so the
    # timeline shows the booking before the visit even when both are entered afterwards.
    booked_at = min(rules.aware(c.booked_at, "booked_at"), scheduled_at)
    return [SessionScheduled(patient_id=c.patient_id, episode_id=c.episode_id, session_id=c.session_id,
                             scheduled_at=scheduled_at, occurred_at=booked_at)]


def _outcome_time(moment: datetime, session: Scheduled, episode: Episode, field: str) -> datetime:
    rules.not_before(moment, session.scheduled_at - rules.SCHEDULE_TOLERANCE, field,
                     "the scheduled time minus a day")
    return rules.not_before(moment, episode.started_at, field, "the episode start")


def _session_outcome(episode: Episode, c: SessionCommand) -> DomainEvent:
    session = _scheduled(episode, c.session_id)
    ids = {"patient_id": c.patient_id, "episode_id": c.episode_id, "session_id": c.session_id}
    match c:
        case CompleteSession():
            minutes = c.duration_min
            if isinstance(minutes, bool) or not isinstance(minutes, int) \
                    or not MIN_SESSION_MINUTES <= minutes <= MAX_SESSION_MINUTES:
                raise RuleViolation(f"must be {MIN_SESSION_MINUTES} to {MAX_SESSION_MINUTES} minutes",
                                    field="duration_min")
            return SessionCompleted(**ids, duration_min=minutes, techniques=rules.codes(c.techniques, "techniques"),
                                    homework=rules.codes(c.homework, "homework"),
                                    occurred_at=_outcome_time(c.completed_at, session, episode, "completed_at"))
        case MarkSessionMissed():
            missed_at = session.scheduled_at if c.missed_at is None else c.missed_at
            return SessionMissed(**ids, occurred_at=_outcome_time(missed_at, session, episode, "missed_at"))
        case CancelSession():
            # Cancelling ahead is the point, so only the episode start bounds it.
            return SessionCancelled(**ids, by=cast(CancelledBy, rules.one_of(c.by, CANCELLED_BY, "by")),
                                    occurred_at=rules.not_before(c.cancelled_at, episode.started_at,
                                                                 "cancelled_at", "the episode start"))
        case _:
            assert_never(c)


def _change_modality(episode: Episode, c: ChangeModality) -> list[DomainEvent]:
    modality = cast(Modality, rules.one_of(c.modality, MODALITIES, "modality"))
    if modality == episode.modality:
        raise RuleViolation("must differ from the current modality", field="modality")
    return [ModalityChanged(
        patient_id=c.patient_id, episode_id=c.episode_id, from_modality=episode.modality, to_modality=modality,
        reason=_reason(c.reason),
        occurred_at=rules.not_before(c.changed_at, episode.modality_changed_at, "changed_at",
                                     "the episode start or the latest modality change"))]


def _change_step(episode: Episode, c: ChangeCareStep) -> list[DomainEvent]:
    step = rules.care_step(c.to_step, "to_step")
    if step == episode.care_step:
        raise RuleViolation("must differ from the current care step", field="to_step")
    return [CareStepChanged(
        patient_id=c.patient_id, episode_id=c.episode_id, from_step=episode.care_step, to_step=step,
        reason=_reason(c.reason),
        occurred_at=rules.not_before(c.changed_at, episode.step_changed_at, "changed_at",
                                     "the episode start or the latest care-step change"))]


def _end(episode: Episode, c: EndEpisode) -> list[DomainEvent]:
    return [TherapyEpisodeEnded(
        patient_id=c.patient_id, episode_id=c.episode_id, reason=_reason(c.reason),
        occurred_at=rules.not_before(c.ended_at, episode.latest_at, "ended_at",
                                     "the latest session outcome or change of the episode"))]


def decide(state: EpisodeState, command: Command) -> list[DomainEvent]:
    """The events a command produces on this episode, or a DomainError refusing it."""
    if isinstance(command, StartEpisode):
        return _start(state, command)
    episode = _open(state, command.patient_id, command.episode_id)
    match command:
        case ScheduleSession():
            return _schedule(episode, command)
        case CompleteSession() | MarkSessionMissed() | CancelSession():
            return [_session_outcome(episode, command)]
        case ChangeModality():
            return _change_modality(episode, command)
        case ChangeCareStep():
            return _change_step(episode, command)
        case EndEpisode():
            return _end(episode, command)
        case _:
            assert_never(command)


DECIDER: Decider[EpisodeState, Command] = Decider(INITIAL_STATE, decide, evolve)
