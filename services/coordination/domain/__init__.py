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
from .flag_events import (
    FLAG_EVENT_TYPES,
    FlagEvent,
    RiskFlagAcknowledged,
    RiskFlagRaised,
    RiskFlagResolved,
)

__all__ = [
    "COORDINATION_EVENT_TYPES",
    "ESCALATION_DUE_AFTER",
    "FLAG_EVENT_TYPES",
    "INITIAL_STATE",
    "CarePlanEvent",
    "CarePlanReviewed",
    "CarePlanState",
    "CaseConferenceHeld",
    "Command",
    "DecideEscalation",
    "EscalationDecided",
    "FlagEvent",
    "HoldCaseConference",
    "NoPlan",
    "Planned",
    "ReviewCarePlan",
    "RiskFlagAcknowledged",
    "RiskFlagRaised",
    "RiskFlagResolved",
    "decide",
    "evolve",
]
