"""Pure domain of the coordination service's team decisions: one care plan per patient."""

from .commands import Command, DecideEscalation, HoldCaseConference, ReviewCarePlan
from .decider import (
    ESCALATION_DUE_AFTER,
    INITIAL_STATE,
    CarePlanState,
    NoPlan,
    Planned,
    decide,
    evolve,
)
from .events import (
    COORDINATION_EVENT_TYPES,
    CarePlanEvent,
    CarePlanReviewed,
    CaseConferenceHeld,
    EscalationDecided,
)

__all__ = [
    "COORDINATION_EVENT_TYPES",
    "ESCALATION_DUE_AFTER",
    "INITIAL_STATE",
    "CarePlanEvent",
    "CarePlanReviewed",
    "CarePlanState",
    "CaseConferenceHeld",
    "Command",
    "DecideEscalation",
    "EscalationDecided",
    "HoldCaseConference",
    "NoPlan",
    "Planned",
    "ReviewCarePlan",
    "decide",
    "evolve",
]
