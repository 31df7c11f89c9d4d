"""Events of a patient's assessment record (stream: one patient).

These payloads leave the service (outbox, Kafka, coordination read models) and are kept
forever, so they carry no direct identifiers: no name, birth date or record number, and
no free-text notes. Age is reduced to a decade band at enrollment. Identity lives outside
the event log so that it can be erased without rewriting history.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from shared.events import DomainEvent

from .vocabulary import LifeEventCategory, LifeEventDirection, LifeEventImpact


class PatientPreferences(BaseModel):
    """Treatment preferences the team honours when choosing the next care step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str | None = None
    prefers_non_pharmacological_first: bool = False


class PatientEnrolled(DomainEvent):
    event_name: ClassVar[str] = "PatientEnrolled"
    version: ClassVar[int] = 1

    patient_id: str
    clinic_id: str
    age_band: str
    preferences: PatientPreferences


class AssessmentRecorded(DomainEvent):
    """One administration of an instrument; ``occurred_at`` is when it was administered."""

    event_name: ClassVar[str] = "AssessmentRecorded"
    version: ClassVar[int] = 1

    patient_id: str
    assessment_id: str
    instrument: str
    item_scores: list[int]
    total: int
    band: str
    max_total: int
    loinc: str | None
    safety_item_positive: bool


class LifeCircumstanceChanged(DomainEvent):
    event_name: ClassVar[str] = "LifeCircumstanceChanged"
    version: ClassVar[int] = 1

    patient_id: str
    life_event_id: str
    category: LifeEventCategory
    direction: LifeEventDirection
    impact: LifeEventImpact


class PatientPreferencesUpdated(DomainEvent):
    event_name: ClassVar[str] = "PatientPreferencesUpdated"
    version: ClassVar[int] = 1

    patient_id: str
    preferences: PatientPreferences


class PatientIdentityErased(DomainEvent):
    """Marks that the patient's identity was deleted from the identity store.

    It carries nothing but the pseudonymous id: it exists so that every consumer learns
    the record is closed, and so that an auditor can see when the erasure happened.
    """

    event_name: ClassVar[str] = "PatientIdentityErased"
    version: ClassVar[int] = 1

    patient_id: str


AssessmentEvent = (
    PatientEnrolled
    | AssessmentRecorded
    | LifeCircumstanceChanged
    | PatientPreferencesUpdated
    | PatientIdentityErased
)

ASSESSMENT_EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    PatientEnrolled,
    AssessmentRecorded,
    LifeCircumstanceChanged,
    PatientPreferencesUpdated,
    PatientIdentityErased,
)
