"""Pure domain of the therapy service: one therapy episode as a decider.

``DECIDER = Decider(INITIAL_STATE, decide, evolve)``: ``decide`` returns events or refuses
with a DomainError; ``evolve`` folds events into the union of episode stages. Nothing here
reads a clock, a file, a database or a topic.
"""

from .commands import (
    CancelSession,
    ChangeCareStep,
    ChangeModality,
    Command,
    CompleteSession,
    EndEpisode,
    MarkSessionMissed,
    ScheduleSession,
    StartEpisode,
)
from .decider import DECIDER, decide
from .events import (
    THERAPY_EVENT_TYPES,
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
from .state import (
    INITIAL_STATE,
    Active,
    Cancelled,
    Completed,
    Ended,
    Episode,
    EpisodeState,
    InconsistentHistory,
    Missed,
    NotStarted,
    Scheduled,
    Session,
    evolve,
    replay,
)
from .vocabulary import CancelledBy, Modality, Reason, Setting, Technique

__all__ = [
    "DECIDER",
    "INITIAL_STATE",
    "THERAPY_EVENT_TYPES",
    "Active",
    "CancelSession",
    "Cancelled",
    "CancelledBy",
    "CareStepChanged",
    "ChangeCareStep",
    "ChangeModality",
    "Command",
    "CompleteSession",
    "Completed",
    "EndEpisode",
    "Ended",
    "Episode",
    "EpisodeState",
    "InconsistentHistory",
    "MarkSessionMissed",
    "Missed",
    "Modality",
    "ModalityChanged",
    "NotStarted",
    "Reason",
    "ScheduleSession",
    "Scheduled",
    "Session",
    "SessionCancelled",
    "SessionCompleted",
    "SessionMissed",
    "SessionScheduled",
    "Setting",
    "StartEpisode",
    "Technique",
    "TherapyEpisodeEnded",
    "TherapyEpisodeStarted",
    "TherapyEvent",
    "decide",
    "evolve",
    "replay",
]
