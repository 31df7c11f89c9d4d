"""Events of a patient's care plan (stream ``care-plan-<patient id>``, subject = patient).

The team's own decisions. ``occurred_at`` is when the team decided, reviewed or met
(clinical time from the request); the envelope adds ``recorded_at``. Payloads hold
pseudonymous ids and codes only: they go out on Kafka and stay there.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from shared.events import DomainEvent

from .vocabulary import CarePlanGoal, ConferenceDecision, EscalationReason, EscalationTarget, ReviewReason


class EscalationDecided(DomainEvent):
    """The team decided to step care up; ``due_by`` is when it must have been enacted
    (a dose change, a new drug, a modality change or a step up) before it counts as stalled."""

    event_name: ClassVar[str] = "EscalationDecided"
    version: ClassVar[int] = 1

    patient_id: str
    escalation_id: str
    target: EscalationTarget
    reason: EscalationReason
    due_by: datetime
    decided_by: str


class CarePlanReviewed(DomainEvent):
    event_name: ClassVar[str] = "CarePlanReviewed"
    version: ClassVar[int] = 1

    patient_id: str
    review_id: str
    reason: ReviewReason
    goals: tuple[CarePlanGoal, ...] = ()
    reviewed_by: str


class CaseConferenceHeld(DomainEvent):
    event_name: ClassVar[str] = "CaseConferenceHeld"
    version: ClassVar[int] = 1

    patient_id: str
    conference_id: str
    attendees: tuple[str, ...]  # staff ids
    decisions: tuple[ConferenceDecision, ...]
    recorded_by: str


CarePlanEvent = EscalationDecided | CarePlanReviewed | CaseConferenceHeld

COORDINATION_EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    EscalationDecided,
    CarePlanReviewed,
    CaseConferenceHeld,
)
