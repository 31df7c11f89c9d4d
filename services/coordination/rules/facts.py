"""Typed facts the rules work on, built in one pass over a patient's sorted history.

Each fact keeps the id of the event it came from (the evidence a flag names) and its
event time ``at``. Only coded fields are kept: drug codes and formulary flags, scores,
codes of life changes and sessions. Free text (a reason, an indication, a drug's display
name) is never read, so it cannot reach an explanation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple


class DrugKey(NamedTuple):
    """A drug as the rules count it: its code and code system (distinct drugs = distinct keys).

    A named tuple rather than a dataclass: it is hashed and compared in the medication rules'
    inner loops, where a tuple's C-level hash is several times cheaper."""

    system: str
    code: str


@dataclass(frozen=True, slots=True)
class CourseStarted:
    event_id: str
    at: datetime
    course_id: str
    drug: DrugKey
    atc: str | None
    therapeutic_class: str | None
    opioid: bool
    benzodiazepine: bool
    serotonergic: bool
    qt_prolonging: bool


@dataclass(frozen=True, slots=True)
class DoseChanged:
    event_id: str
    at: datetime
    course_id: str
    direction: str  # increase | decrease | unit_change

    @property
    def changes_dose(self) -> bool:
        """A unit change restates the same dose; it neither enacts nor answers anything."""
        return self.direction in ("increase", "decrease")


@dataclass(frozen=True, slots=True)
class CourseStopped:
    event_id: str
    at: datetime
    course_id: str


@dataclass(frozen=True, slots=True)
class AdverseEffect:
    event_id: str
    at: datetime
    course_id: str
    severity: str  # mild | moderate | severe


@dataclass(frozen=True, slots=True)
class Score:
    event_id: str
    at: datetime
    instrument: str  # PHQ-9, GAD-7, PHQ-15 …
    total: int
    item_scores: tuple[int, ...]
    safety_item_positive: bool


@dataclass(frozen=True, slots=True)
class LifeChange:
    event_id: str
    at: datetime
    category: str
    direction: str  # worsened | improved
    impact: str  # low | moderate | high


@dataclass(frozen=True, slots=True)
class Review:
    """A care-plan review or a case conference: the team looked at the plan."""

    event_id: str
    at: datetime
    kind: Literal["care_plan_review", "case_conference"]


@dataclass(frozen=True, slots=True)
class Escalation:
    event_id: str
    at: datetime
    due_by: datetime | None  # None: the payload named none, the rule's default applies


@dataclass(frozen=True, slots=True)
class EpisodeStarted:
    event_id: str
    at: datetime
    episode_id: str
    care_step: int


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    event_id: str
    at: datetime
    episode_id: str
    session_id: str
    outcome: Literal["completed", "missed", "cancelled_by_patient", "cancelled_by_clinic"]


@dataclass(frozen=True, slots=True)
class StepChanged:
    event_id: str
    at: datetime
    episode_id: str
    from_step: int | None
    to_step: int

    @property
    def step_up(self) -> bool:
        return self.from_step is not None and self.to_step > self.from_step


@dataclass(frozen=True, slots=True)
class ModalityChanged:
    event_id: str
    at: datetime
    episode_id: str


@dataclass(frozen=True, slots=True)
class EpisodeEnded:
    event_id: str
    at: datetime
    episode_id: str


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """Every fact of one patient, each tuple in event-time order (occurred, recorded, id)."""

    patient_id: str
    courses: tuple[CourseStarted, ...] = ()
    dose_changes: tuple[DoseChanged, ...] = ()
    stops: tuple[CourseStopped, ...] = ()
    adverse_effects: tuple[AdverseEffect, ...] = ()
    scores: tuple[Score, ...] = ()
    life_changes: tuple[LifeChange, ...] = ()
    reviews: tuple[Review, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    episodes: tuple[EpisodeStarted, ...] = ()
    sessions: tuple[SessionOutcome, ...] = ()
    step_changes: tuple[StepChanged, ...] = ()
    modality_changes: tuple[ModalityChanged, ...] = ()
    episode_ends: tuple[EpisodeEnded, ...] = ()
    # Events of a known kind whose payload lacked a field the rules need: skipped, named so
    # that the caller can log them (the projection dead-letters malformed payloads earlier).
    unreadable: tuple[str, ...] = field(default=())
