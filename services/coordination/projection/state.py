"""The live summary of one patient, as the projection keeps it (one JSON document a row).

Every part is kept so that folding the same events gives the same document whatever order
the four topics interleave in: a part either belongs to one stream (a medication course,
an episode, the assessment record: Kafka keeps those in order) or is kept sorted by clinical
time (scores, life changes, reviews). Only codes, numbers, ids and times are kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.coordination.projection.inputs import Drug, Preferences, Schedule


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Medication(Part):
    medication_id: str
    drug: Drug
    atc: str | None = None
    therapeutic_class: str | None = None
    risk_properties: tuple[str, ...] = ()  # opioid, benzodiazepine, serotonergic, …
    dose: float
    unit: str
    schedule: Schedule
    daily_dose: float
    route: str | None = None
    status: Literal["active", "discontinued"] = "active"
    started_at: datetime
    last_changed_at: datetime
    stopped_at: datetime | None = None


class Episode(Part):
    episode_id: str
    modality: str | None = None  # None until the episode's start is seen
    care_step: int | None = None
    setting: str | None = None
    status: Literal["open", "ended"] = "open"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    scheduled: int = 0
    completed: int = 0
    missed: int = 0
    cancelled_by_patient: int = 0
    cancelled_by_clinic: int = 0
    last_completed_at: datetime | None = None


class Score(Part):
    assessment_id: str
    total: int
    band: str
    max_total: int | None = None
    at: datetime
    safety_item_positive: bool = False


class LifeChange(Part):
    life_event_id: str
    category: str
    direction: str
    impact: str
    at: datetime


class Escalation(Part):
    escalation_id: str
    target: str
    reason: str
    decided_at: datetime
    due_by: datetime


class Review(Part):
    review_id: str
    reason: str
    goals: tuple[str, ...] = ()
    at: datetime


class Conference(Part):
    conference_id: str
    attendees: int
    decisions: tuple[str, ...]
    at: datetime


class PatientSummary(Part):
    patient_id: str
    clinic_id: str
    enrolled_at: datetime | None = None
    age_band: str | None = None
    preferences: Preferences | None = None
    identity_erased: bool = False
    medications: dict[str, Medication] = {}
    episodes: dict[str, Episode] = {}  # by stream id: one stream per episode
    scores: dict[str, tuple[Score, ...]] = {}  # by instrument, in clinical order
    life_changes: tuple[LifeChange, ...] = ()  # in clinical order
    escalations: dict[str, Escalation] = {}
    # The latest enacting event (dose change, new drug, modality change, step up): an
    # escalation decided at or before it was enacted. A maximum, so arrival order is moot.
    last_enacted_at: datetime | None = None
    last_review: Review | None = None
    last_conference: Conference | None = None
    event_count: int = 0
    last_event_at: datetime | None = None


def empty(patient_id: str, clinic_id: str) -> PatientSummary:
    return PatientSummary(patient_id=patient_id, clinic_id=clinic_id)
