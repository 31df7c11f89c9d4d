"""The state of one medication course, folded from its events: one class per stage.

``NotStarted → Active → Discontinued``. Each stage carries exactly what is known in it, so
``decide`` matches on the stage instead of checking optional fields. The stream version is
not part of the state: the handler tracks it for optimistic concurrency, so the same state
comes out of any replay.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar, assert_never

from shared.events import DomainEvent

from .events import (
    AdverseEffectReported,
    DoseAdjusted,
    MedicationDiscontinued,
    MedicationStarted,
    PharmacyEvent,
)
from .values import CourseStatus, DrugRef, Schedule


@dataclass(frozen=True)
class Prescription:
    """Whose course it is and what is prescribed now (the dose follows each adjustment)."""

    patient_id: str
    medication_id: str
    drug: DrugRef
    dose: float
    unit: str
    schedule: Schedule
    started_at: datetime


@dataclass(frozen=True)
class NotStarted:
    """No course in this stream yet."""


@dataclass(frozen=True)
class Active:
    """A running course; a new dose takes effect no earlier than ``last_dose_change_at``."""

    prescription: Prescription
    last_dose_change_at: datetime

    status: ClassVar[CourseStatus] = "active"


@dataclass(frozen=True)
class Discontinued:
    """A stopped course, kept as it stood when stopped (it still takes adverse effects)."""

    prescription: Prescription
    discontinued_at: datetime

    status: ClassVar[CourseStatus] = "discontinued"


CourseState = NotStarted | Active | Discontinued
StartedCourse = Active | Discontinued

INITIAL_STATE: CourseState = NotStarted()


def evolve(state: CourseState, event: DomainEvent) -> CourseState:
    """Apply one recorded event. Never refuses: recorded history is a fact.

    An event that does not fit the stage (a dose change before the start, say) cannot have
    been decided; it leaves the state as it is rather than making the stream unreadable.
    """
    # The shell decodes events as DomainEvent; another service's event here is a wiring error.
    if not isinstance(event, PharmacyEvent):
        raise TypeError(f"unsupported event: {type(event).__name__}")
    match state:
        case NotStarted():
            return _evolve_not_started(state, event)
        case Active():
            return _evolve_active(state, event)
        case Discontinued():
            return _evolve_discontinued(state, event)
        case _:
            assert_never(state)


def _evolve_not_started(state: NotStarted, event: PharmacyEvent) -> CourseState:
    match event:
        case MedicationStarted():
            prescription = Prescription(
                patient_id=event.patient_id,
                medication_id=event.medication_id,
                drug=event.drug,
                dose=event.dose,
                unit=event.unit,
                schedule=event.schedule,
                started_at=event.occurred_at,
            )
            return Active(prescription, last_dose_change_at=event.occurred_at)
        case DoseAdjusted() | MedicationDiscontinued() | AdverseEffectReported():
            return state
        case _:
            assert_never(event)


def _evolve_active(state: Active, event: PharmacyEvent) -> CourseState:
    match event:
        case DoseAdjusted():
            prescription = replace(state.prescription, dose=event.dose, unit=event.unit)
            return Active(prescription, last_dose_change_at=event.occurred_at)
        case MedicationDiscontinued():
            return Discontinued(state.prescription, discontinued_at=event.occurred_at)
        case AdverseEffectReported() | MedicationStarted():
            return state
        case _:
            assert_never(event)


def _evolve_discontinued(state: Discontinued, event: PharmacyEvent) -> CourseState:
    """Stopped for good: adverse effects are still recorded, but none changes the course."""
    match event:
        case AdverseEffectReported() | MedicationStarted() | DoseAdjusted() | MedicationDiscontinued():
            return state
        case _:
            assert_never(event)
