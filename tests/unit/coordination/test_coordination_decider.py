"""The care plan decider: given events → when command → then events, or the refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.coordination.domain import (
    INITIAL_STATE,
    CarePlanReviewed,
    CaseConferenceHeld,
    DecideEscalation,
    EscalationDecided,
    HoldCaseConference,
    NoPlan,
    Planned,
    ReviewCarePlan,
    decide,
)
from services.coordination.handlers import DECIDER
from shared.errors import Conflict, NotFound, RuleViolation

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def escalate(**over: object) -> DecideEscalation:
    fields: dict[str, object] = dict(patient_id="p1", escalation_id="e1", target="pharmacotherapy",
                                     reason="non_response", decided_at=T, due_by=None, decided_by="staff-1")
    fields.update(over)
    return DecideEscalation(**fields)  # type: ignore[arg-type]


def review(**over: object) -> ReviewCarePlan:
    fields: dict[str, object] = dict(patient_id="p1", review_id="r1", reason="life_change", reviewed_at=T,
                                     goals=("return_to_work",), reviewed_by="staff-2")
    fields.update(over)
    return ReviewCarePlan(**fields)  # type: ignore[arg-type]


def conference(**over: object) -> HoldCaseConference:
    fields: dict[str, object] = dict(patient_id="p1", conference_id="c1", held_at=T, attendees=("a", "b"),
                                     decisions=("continue_plan",), recorded_by="staff-1")
    fields.update(over)
    return HoldCaseConference(**fields)  # type: ignore[arg-type]


def test_an_escalation_is_due_14_days_after_the_decision_unless_given() -> None:
    [event] = decide(INITIAL_STATE, escalate())
    assert isinstance(event, EscalationDecided)
    assert (event.due_by, event.occurred_at, event.target, event.decided_by) == (
        T + timedelta(days=14), T, "pharmacotherapy", "staff-1")
    [given] = decide(INITIAL_STATE, escalate(due_by=T + timedelta(days=7)))
    assert isinstance(given, EscalationDecided) and given.due_by == T + timedelta(days=7)


@pytest.mark.parametrize(("over", "field"), [
    ({"due_by": T}, "due_by"),
    ({"due_by": T - timedelta(days=1)}, "due_by"),
    ({"due_by": T + timedelta(days=400)}, "due_by"),
    ({"decided_at": datetime(2026, 3, 2, 9, 0)}, "decided_at"),
    ({"target": "surgery"}, "target"),
    ({"reason": "because"}, "reason"),
    ({"escalation_id": ""}, "escalation_id"),
    ({"patient_id": ""}, "patient_id"),
])
def test_escalation_refusals_name_the_field(over: dict[str, object], field: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(INITIAL_STATE, escalate(**over))
    assert refused.value.field == field


def test_reviews_and_conferences_record_codes() -> None:
    [r] = decide(INITIAL_STATE, review())
    assert isinstance(r, CarePlanReviewed) and r.goals == ("return_to_work",) and r.occurred_at == T
    [c] = decide(INITIAL_STATE, conference(held_at=T.astimezone(timezone(timedelta(hours=2)))))
    assert isinstance(c, CaseConferenceHeld) and c.attendees == ("a", "b") and c.occurred_at == T


@pytest.mark.parametrize(("command", "field"), [
    (review(goals=("return_to_work", "return_to_work")), "goals"),
    (review(goals=("world_peace",)), "goals"),
    (review(reason="felt like it"), "reason"),
    (conference(attendees=()), "attendees"),
    (conference(attendees=("a", "a")), "attendees"),
    (conference(attendees=("a", " ")), "attendees"),
    (conference(decisions=()), "decisions"),
    (conference(decisions=("escalate_everything",)), "decisions"),
    (conference(held_at=datetime(2026, 3, 2)), "held_at"),
])
def test_review_and_conference_refusals(command: ReviewCarePlan | HoldCaseConference, field: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(INITIAL_STATE, command)
    assert refused.value.field == field


def test_the_plan_remembers_decision_ids_and_its_patient() -> None:
    state = DECIDER.fold([*decide(INITIAL_STATE, escalate()), *decide(NoPlan(), review())])
    assert state == Planned("p1", frozenset({"e1", "r1"}))
    with pytest.raises(Conflict):
        decide(state, escalate())
    with pytest.raises(Conflict):
        decide(state, conference(conference_id="r1"))
    with pytest.raises(NotFound):
        decide(state, escalate(patient_id="p2", escalation_id="e2"))
    assert len(decide(state, escalate(escalation_id="e2"))) == 1
