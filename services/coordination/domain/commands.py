"""Commands on a patient's care plan: what a coordinator, prescriber or therapist decides.

Times come from the command, never from a clock; ``decide`` checks them and refuses with a
DomainError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .vocabulary import CarePlanGoal, ConferenceDecision, EscalationReason, EscalationTarget, ReviewReason


@dataclass(frozen=True)
class DecideEscalation:
    patient_id: str
    escalation_id: str
    target: EscalationTarget
    reason: EscalationReason
    decided_at: datetime
    due_by: datetime | None
    decided_by: str


@dataclass(frozen=True)
class ReviewCarePlan:
    patient_id: str
    review_id: str
    reason: ReviewReason
    reviewed_at: datetime
    goals: tuple[CarePlanGoal, ...]
    reviewed_by: str


@dataclass(frozen=True)
class HoldCaseConference:
    patient_id: str
    conference_id: str
    held_at: datetime
    attendees: tuple[str, ...]
    decisions: tuple[ConferenceDecision, ...]
    recorded_by: str


Command = DecideEscalation | ReviewCarePlan | HoldCaseConference
