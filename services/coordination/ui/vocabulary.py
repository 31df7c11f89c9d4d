"""What the pages show for codes: rule names, severities, acknowledgement reasons, pharmacy's
reasons and adverse effects, and each instrument's bands. Sent to the browser once per page as
JSON, so the scripts hold no clinical tables of their own."""

from __future__ import annotations

from typing import Any

from services.coordination.domain.vocabulary import ACKNOWLEDGEMENT_REASONS
from services.coordination.fhir.codes import ADVERSE_EFFECTS
from services.coordination.rules.registry import RULES

RULE_LABELS: dict[str, str] = {
    "polypharmacy": "Polypharmacy",
    "dangerous_combination": "Dangerous combination",
    "stalled_escalation": "Escalation not enacted",
    "stalled_progress": "No progress at this step",
    "plan_review_due": "Care plan review due",
    "disengagement": "Disengagement",
    "rapid_titration": "Rapid titration",
    "unreviewed_adverse_effect": "Unreviewed adverse effect",
    "safety": "Safety: PHQ-9 item 9",
}

SEVERITIES: tuple[str, ...] = ("urgent", "high", "warning", "info")  # most severe first

ACK_REASON_LABELS: dict[str, str] = {
    "reviewed_no_action_needed": "Reviewed, no action needed",
    "action_planned": "Action planned",
    "already_addressed": "Already addressed",
    "clinically_justified": "Clinically justified",
    "patient_contacted": "Patient contacted",
    "discussed_in_case_conference": "Discussed in a case conference",
    "referred": "Referred",
    "data_error": "Data error",
    "other": "Other",
}

# Pharmacy's codes (services do not import each other: the lists are pharmacy's
# domain/vocabulary.py, which its OpenAPI publishes as enums; a code missing here is shown
# with its underscores as spaces).
DOSE_CHANGE_REASON_LABELS: dict[str, str] = {
    "titration": "Titration", "insufficient_response": "Insufficient response", "adverse_effect": "Adverse effect",
    "interaction": "Interaction", "patient_preference": "Patient preference", "taper": "Taper",
    "maintenance": "Maintenance", "other": "Other"}
DISCONTINUATION_REASON_LABELS: dict[str, str] = {
    "remission": "Remission", "adverse_effect": "Adverse effect", "insufficient_response": "Insufficient response",
    "patient_request": "Patient request", "interaction": "Interaction", "switch": "Switched to another drug",
    "course_completed": "Course completed", "other": "Other"}
OVERRIDE_REASON_LABELS: dict[str, str] = {
    "benefit_outweighs_risk": "Benefit outweighs risk", "specialist_advice": "Specialist advice",
    "previously_tolerated": "Previously tolerated", "no_alternative": "No alternative", "other": "Other"}

# Each band's lower bound and label, as DOMAIN.md gives them (the assessment service scores
# them; the pages only draw them). ``max`` is the instrument's highest total.
INSTRUMENTS: dict[str, dict[str, Any]] = {
    "PHQ-9": {"name": "PHQ-9", "what": "depression", "max": 27, "bands": [
        [0, "minimal"], [5, "mild"], [10, "moderate"], [15, "moderately severe"], [20, "severe"]]},
    "GAD-7": {"name": "GAD-7", "what": "anxiety", "max": 21, "bands": [
        [0, "minimal"], [5, "mild"], [10, "moderate"], [15, "severe"]]},
    "PHQ-15": {"name": "PHQ-15", "what": "somatic symptoms", "max": 30, "bands": [
        [0, "minimal"], [5, "low"], [10, "medium"], [15, "high"]]},
    "ISI": {"name": "ISI", "what": "insomnia", "max": 28, "bands": [
        [0, "none"], [8, "subthreshold"], [15, "moderate"], [22, "severe"]]},
    "WSAS": {"name": "WSAS", "what": "functioning", "max": 40, "bands": [
        [0, "subclinical"], [10, "significant"], [20, "severe"]]},
    "PAIN-NRS": {"name": "Pain NRS", "what": "pain", "max": 10, "bands": [
        [0, "none"], [1, "mild"], [4, "moderate"], [7, "severe"]]},
}


def page_vocabulary() -> dict[str, Any]:
    """Everything above, plus each rule's own description, for the page's config block."""
    descriptions = {rule.rule_id: rule.description for rule in RULES}
    return {
        "rules": {rule_id: {"label": RULE_LABELS.get(rule_id, rule_id.replace("_", " ")),
                            "description": descriptions.get(rule_id, "")}
                  for rule_id in dict.fromkeys([*RULE_LABELS, *descriptions])},
        "severities": list(SEVERITIES),
        "ack_reasons": [[code, ACK_REASON_LABELS.get(code, code.replace("_", " "))]
                        for code in ACKNOWLEDGEMENT_REASONS],
        "pharmacy": {"dose_change_reasons": DOSE_CHANGE_REASON_LABELS,
                     "discontinuation_reasons": DISCONTINUATION_REASON_LABELS,
                     "override_reasons": OVERRIDE_REASON_LABELS, "adverse_effects": ADVERSE_EFFECTS},
        "instruments": INSTRUMENTS,
        "instrument_order": list(INSTRUMENTS),  # the JSON's keys arrive sorted
    }
