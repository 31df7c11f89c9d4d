"""Closed vocabularies of the therapy service, shared by the domain and the HTTP layer.

Everything an event says about a session or a decision is a code, never free text: events
are kept forever and leave the service, and coordination's rules and dashboards act on
codes. Every vocabulary ends in ``other`` so that a therapist is never forced to pick a
wrong code. The API lists them as enums in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Literal, get_args

Modality = Literal[
    "cbt",
    "behavioral_activation",
    "exposure",
    "trauma_focused",
    "emotion_focused",
    "metacognitive",
    "mindfulness",
    "psychoeducation",
    "act",
    "psychodynamic",
    "interpersonal",
    "group",
    "other",
]

Setting = Literal["individual", "group", "remote"]

Reason = Literal[
    "non_response",
    "partial_response",
    "patient_preference",
    "adverse_effect",
    "life_change",
    "remission",
    "dropout",
    "transfer",
    "other",
]

# Techniques used in a session and homework agreed at its end share one vocabulary: a
# thought record is practised in the session and then set as homework.
Technique = Literal[
    "activity_scheduling",
    "behavioral_experiment",
    "cognitive_restructuring",
    "thought_record",
    "graded_exposure",
    "sleep_hygiene",
    "sleep_diary",
    "relaxation",
    "breathing",
    "pacing",
    "problem_solving",
    "mindfulness_practice",
    "values_work",
    "self_monitoring",
    "psychoeducation",
    "other",
]

CancelledBy = Literal["patient", "clinic"]

MODALITIES: tuple[str, ...] = get_args(Modality)
SETTINGS: tuple[str, ...] = get_args(Setting)
REASONS: tuple[str, ...] = get_args(Reason)
TECHNIQUES: tuple[str, ...] = get_args(Technique)
CANCELLED_BY: tuple[str, ...] = get_args(CancelledBy)

CARE_STEPS = range(1, 5)
"""Stepped care: 1 low intensity (guided self-help, psychoeducation) … 4 intensive or
specialist care."""

MIN_SESSION_MINUTES, MAX_SESSION_MINUTES = 1, 240
MAX_CODES_PER_SESSION = 20  # a request bound; repeated codes are folded into one
