"""Closed vocabularies of the team's decisions.

Decisions are coded, not written: they leave the service on Kafka, are kept forever and
feed rules and dashboards, so a reason is a code a rule can act on rather than a sentence
that may name the patient. The lists appear as enums in the OpenAPI document.
"""

from __future__ import annotations

from typing import Literal, get_args

EscalationTarget = Literal["pharmacotherapy", "psychotherapy", "both"]

EscalationReason = Literal[
    "non_response",
    "partial_response",
    "relapse",
    "adverse_effect",
    "safety_concern",
    "life_change",
    "patient_preference",
    "other",
]

ReviewReason = Literal[
    "scheduled",
    "life_change",
    "escalation_follow_up",
    "adverse_effect",
    "safety_concern",
    "non_response",
    "patient_request",
    "transition_of_care",
    "other",
]

CarePlanGoal = Literal[
    "symptom_reduction",
    "pain_management",
    "sleep_improvement",
    "daily_functioning",
    "return_to_work",
    "social_participation",
    "medication_reduction",
    "relapse_prevention",
    "self_management",
    "other",
]

ConferenceDecision = Literal[
    "continue_plan",
    "escalate_pharmacotherapy",
    "escalate_psychotherapy",
    "step_down",
    "change_modality",
    "review_medication",
    "deprescribe",
    "refer_specialist",
    "increase_monitoring",
    "safety_plan",
    "discharge",
    "other",
]

ESCALATION_TARGETS: tuple[str, ...] = get_args(EscalationTarget)
ESCALATION_REASONS: tuple[str, ...] = get_args(EscalationReason)
REVIEW_REASONS: tuple[str, ...] = get_args(ReviewReason)
CARE_PLAN_GOALS: tuple[str, ...] = get_args(CarePlanGoal)
CONFERENCE_DECISIONS: tuple[str, ...] = get_args(ConferenceDecision)

AcknowledgementReason = Literal[
    "reviewed_no_action_needed",
    "action_planned",
    "already_addressed",
    "clinically_justified",
    "patient_contacted",
    "discussed_in_case_conference",
    "referred",
    "data_error",
    "other",
]
"""Why a clinician acknowledged a risk flag; anything more goes in the note, which stays in
the service."""

ACKNOWLEDGEMENT_REASONS: tuple[str, ...] = get_args(AcknowledgementReason)
