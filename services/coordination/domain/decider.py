"""A patient's care plan as a decider: ``decide(state, command)`` and ``evolve(state, event)``.

Pure: no clock, no I/O. The care plan holds only what decisions need to stay consistent:
whose plan it is and which decision ids were used (a decision is recorded once). Everything else the team
decides is history for the timeline and the rules, not state that changes what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar, assert_never

from shared.domain import require_aware, require_one_of
from shared.errors import Conflict, NotFound, RuleViolation
from shared.events import DomainEvent

from .commands import Command, DecideEscalation, HoldCaseConference, ReviewCarePlan
from .events import CarePlanReviewed, CaseConferenceHeld, EscalationDecided
from .vocabulary import (
    CARE_PLAN_GOALS,
    CONFERENCE_DECISIONS,
    ESCALATION_REASONS,
    ESCALATION_TARGETS,
    REVIEW_REASONS,
)

ESCALATION_DUE_AFTER = timedelta(days=14)
"""Stepped care expects an escalation to be enacted within two weeks (DOMAIN.md)."""

LONGEST_ESCALATION = timedelta(days=365)
"""A due date further out than a year is a typo, not a plan."""

MAX_ATTENDEES = 50

Code = TypeVar("Code", bound=str)


@dataclass(frozen=True)
class NoPlan:
    """Nothing decided for this patient yet."""


@dataclass(frozen=True)
class Planned:
    patient_id: str
    decision_ids: frozenset[str] = field(default_factory=frozenset)


CarePlanState = NoPlan | Planned

INITIAL_STATE: CarePlanState = NoPlan()


def decide(state: CarePlanState, command: Command) -> list[DomainEvent]:
    _require_same_patient(state, command.patient_id)
    match command:
        case DecideEscalation():
            return [_escalate(state, command)]
        case ReviewCarePlan():
            return [_review(state, command)]
        case HoldCaseConference():
            return [_conference(state, command)]
        case _:
            assert_never(command)


def evolve(state: CarePlanState, event: DomainEvent) -> CarePlanState:
    """Apply one recorded event. Never refuses: recorded history is a fact."""
    match event:
        case EscalationDecided():
            return _recorded(state, event.patient_id, event.escalation_id)
        case CarePlanReviewed():
            return _recorded(state, event.patient_id, event.review_id)
        case CaseConferenceHeld():
            return _recorded(state, event.patient_id, event.conference_id)
        case _:
            raise TypeError(f"unsupported event: {type(event).__name__}")


def _recorded(state: CarePlanState, patient_id: str, decision_id: str) -> Planned:
    match state:
        case NoPlan():
            return Planned(patient_id, frozenset({decision_id}))
        case Planned():
            return Planned(state.patient_id, state.decision_ids | {decision_id})
        case _:
            assert_never(state)


def _require_same_patient(state: CarePlanState, patient_id: str) -> None:
    match state:
        case NoPlan():
            if not patient_id:
                raise RuleViolation("must not be empty", field="patient_id")
        case Planned():
            if state.patient_id != patient_id:
                raise NotFound("care plan not found", field="patient_id")
        case _:
            assert_never(state)


def _require_new_id(state: CarePlanState, decision_id: str, field_name: str) -> None:
    if not decision_id:
        raise RuleViolation("must not be empty", field=field_name)
    match state:
        case NoPlan():
            return
        case Planned():
            if decision_id in state.decision_ids:
                raise Conflict("this decision is recorded already", field=field_name)
        case _:
            assert_never(state)


def _require_codes(values: Iterable[Code], allowed: Iterable[str], field_name: str, *,
                   at_least_one: bool) -> tuple[Code, ...]:
    codes = tuple(values)
    if at_least_one and not codes:
        raise RuleViolation("must name at least one", field=field_name)
    if len(set(codes)) != len(codes):
        raise RuleViolation("must not repeat a code", field=field_name)
    for code in codes:
        require_one_of(code, allowed, field_name)
    return codes


def _escalate(state: CarePlanState, command: DecideEscalation) -> EscalationDecided:
    _require_new_id(state, command.escalation_id, "escalation_id")
    require_one_of(command.target, ESCALATION_TARGETS, "target")
    require_one_of(command.reason, ESCALATION_REASONS, "reason")
    require_aware(command.decided_at, "decided_at")
    due_by = command.due_by if command.due_by is not None else command.decided_at + ESCALATION_DUE_AFTER
    require_aware(due_by, "due_by")
    if due_by <= command.decided_at:
        raise RuleViolation("must be after decided_at", field="due_by")
    if due_by - command.decided_at > LONGEST_ESCALATION:
        raise RuleViolation("must be within a year of decided_at", field="due_by")
    return EscalationDecided(patient_id=command.patient_id, escalation_id=command.escalation_id,
                             target=command.target, reason=command.reason, due_by=due_by,
                             decided_by=command.decided_by, occurred_at=command.decided_at)


def _review(state: CarePlanState, command: ReviewCarePlan) -> CarePlanReviewed:
    _require_new_id(state, command.review_id, "review_id")
    require_one_of(command.reason, REVIEW_REASONS, "reason")
    require_aware(command.reviewed_at, "reviewed_at")
    goals = _require_codes(command.goals, CARE_PLAN_GOALS, "goals", at_least_one=False)
    return CarePlanReviewed(patient_id=command.patient_id, review_id=command.review_id,
                            reason=command.reason, goals=goals,
                            reviewed_by=command.reviewed_by, occurred_at=command.reviewed_at)


def _conference(state: CarePlanState, command: HoldCaseConference) -> CaseConferenceHeld:
    _require_new_id(state, command.conference_id, "conference_id")
    require_aware(command.held_at, "held_at")
    attendees = tuple(a.strip() for a in command.attendees)
    if not attendees or any(not a for a in attendees):
        raise RuleViolation("must name at least one staff id, none empty", field="attendees")
    if len(attendees) > MAX_ATTENDEES:
        raise RuleViolation(f"must name at most {MAX_ATTENDEES}", field="attendees")
    if len(set(attendees)) != len(attendees):
        raise RuleViolation("must not repeat a staff id", field="attendees")
    decisions = _require_codes(command.decisions, CONFERENCE_DECISIONS, "decisions", at_least_one=True)
    return CaseConferenceHeld(patient_id=command.patient_id, conference_id=command.conference_id,
                              attendees=attendees, decisions=decisions,
                              recorded_by=command.recorded_by, occurred_at=command.held_at)
