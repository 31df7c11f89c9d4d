"""Commands the assessment service accepts: what a clinician or an EHR adapter asks for.

Commands carry raw, not yet trusted input (item scores straight from a request body,
vocabulary values as plain strings); ``decide`` validates them. Identity data (name,
record number) never enters a command: the shell stores it separately, keyed by the
pseudonymous patient id, so it can be erased. The birth date enters only to compute the
age band and is not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from .events import PatientPreferences


@dataclass(frozen=True)
class EnrollPatient:
    patient_id: str
    clinic_id: str
    birth_date: date
    preferences: PatientPreferences
    enrolled_at: datetime


@dataclass(frozen=True)
class RecordAssessment:
    patient_id: str
    assessment_id: str
    instrument: str
    item_scores: Sequence[object]
    administered_at: datetime
    client_total: int | None = None


@dataclass(frozen=True)
class RecordLifeEvent:
    patient_id: str
    life_event_id: str
    category: str
    direction: str
    impact: str
    occurred_at: datetime


@dataclass(frozen=True)
class UpdatePatientPreferences:
    patient_id: str
    preferences: PatientPreferences
    updated_at: datetime


@dataclass(frozen=True)
class ErasePatientIdentity:
    patient_id: str
    erased_at: datetime


Command = (
    EnrollPatient
    | RecordAssessment
    | RecordLifeEvent
    | UpdatePatientPreferences
    | ErasePatientIdentity
)
