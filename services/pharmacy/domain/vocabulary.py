"""The coded values pharmacy events carry instead of free text.

Events are kept forever and leave the service (Kafka keeps every one), so whatever a user
types there can never be erased. Reasons, overrides and adverse effects are therefore codes
from the lists below, each with ``other`` for what the list does not name; the words a
clinician needs beside a code go in a note (``*_note``) that stays in this service's
database and is erased with the patient's identity (``services/pharmacy/notes.py``).

The lists follow what the care team records and what coordination reads: the rules count
dose changes by direction and adverse effects by severity (DOMAIN.md), so no code changes a
flag; the codes make the timeline and the FHIR export say *why* without free text.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from shared.upcasts import ICD10_CODE

DoseChangeReason = Literal[
    "titration",              # planned step towards the target dose
    "insufficient_response",  # partial or no response at the current dose
    "adverse_effect",         # lowered (or split) for tolerability
    "interaction",            # another drug started or stopped changes exposure
    "patient_preference",
    "taper",                  # planned reduction towards a stop
    "maintenance",            # continuation-phase dose after remission
    "other",
]
DOSE_CHANGE_REASONS: tuple[DoseChangeReason, ...] = get_args(DoseChangeReason)

DiscontinuationReason = Literal[
    "remission",              # treatment goal reached and the course completed its phase
    "adverse_effect",
    "insufficient_response",
    "patient_request",
    "interaction",            # stopped because of a risky combination
    "switch",                 # replaced by another drug (a new course records it)
    "course_completed",       # a planned time-limited course ended
    "other",
]
DISCONTINUATION_REASONS: tuple[DiscontinuationReason, ...] = get_args(DiscontinuationReason)

OverrideReason = Literal[
    "benefit_outweighs_risk",
    "specialist_advice",
    "previously_tolerated",   # the patient took this dose before without harm
    "no_alternative",
    "other",
]
OVERRIDE_REASONS: tuple[OverrideReason, ...] = get_args(OverrideReason)

AdverseEffect = Literal[
    # Common effects of antidepressants, anxiolytics, antipsychotics, mood stabilisers and
    # analgesics used in psychosomatic care (product labels; NICE NG222 1.11 on side effects
    # to monitor), plus the rarer serious ones a team must be able to name exactly.
    "nausea",
    "headache",
    "insomnia",
    "somnolence",
    "dizziness",
    "sexual_dysfunction",
    "weight_gain",
    "agitation",
    "tremor",
    "dry_mouth",
    "constipation",
    "sweating",
    "serotonin_syndrome",
    "qt_prolongation",
    "bleeding",
    "hyponatraemia",
    "suicidal_ideation",
    "other",
]
ADVERSE_EFFECTS: tuple[AdverseEffect, ...] = get_args(AdverseEffect)

MAX_NOTE_LENGTH = 2000
"""A note beside a code: a few sentences, not a letter."""


class Indication(BaseModel):
    """What the drug is for, as a diagnosis code; free text has no place on an event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: Literal["ICD-10"] = "ICD-10"
    code: str = Field(pattern=ICD10_CODE.pattern, examples=["F32.1"])
