"""Commands on one medication course: what a prescriber or a team member asks for.

Commands carry input that is not yet trusted (a dose may be zero or NaN, a unit
misspelt, a time naive); ``decide`` validates them and refuses with a DomainError that
names the offending field. Every time comes from the command, never from a clock. Reasons,
overrides and effects are codes of ``vocabulary``; the notes a user writes beside them are
not part of a command (they never reach an event) but kept by the shell (``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .values import DrugRef, Schedule
from .vocabulary import Indication


@dataclass(frozen=True)
class StartMedication:
    patient_id: str
    medication_id: str
    drug: DrugRef
    dose: float
    unit: str
    schedule: Schedule
    route: str
    indication: Indication | None
    started_at: datetime
    prescriber_id: str
    override_reason: str | None = None


@dataclass(frozen=True)
class AdjustDose:
    patient_id: str
    medication_id: str
    dose: float
    unit: str
    reason: str
    effective_at: datetime
    prescriber_id: str
    override_reason: str | None = None


@dataclass(frozen=True)
class DiscontinueMedication:
    patient_id: str
    medication_id: str
    reason: str
    effective_at: datetime
    prescriber_id: str


@dataclass(frozen=True)
class ReportAdverseEffect:
    patient_id: str
    medication_id: str
    effect: str
    severity: str
    observed_at: datetime
    reporter_id: str


Command = StartMedication | AdjustDose | DiscontinueMedication | ReportAdverseEffect
