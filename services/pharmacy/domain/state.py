"""The state of one medication course, folded from its events.

It holds only what ``decide`` needs. The stream version is not part of it: the handler
tracks that for optimistic concurrency, so the same state comes out of any replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.events import DomainEvent

from .events import (
    AdverseEffectReported,
    DoseAdjusted,
    MedicationDiscontinued,
    MedicationStarted,
)
from .values import CourseStatus, DrugRef, Schedule


@dataclass(frozen=True)
class CourseState:
    started: bool = False
    patient_id: str | None = None
    medication_id: str | None = None
    drug: DrugRef | None = None
    dose: float | None = None
    unit: str | None = None
    schedule: Schedule | None = None
    status: CourseStatus | None = None
    started_at: datetime | None = None
    last_dose_change_at: datetime | None = None
    discontinued_at: datetime | None = None


INITIAL_STATE = CourseState()


def evolve(state: CourseState, event: DomainEvent) -> CourseState:
    """Apply one recorded event. Never refuses: recorded history is a fact."""
    if isinstance(event, MedicationStarted):
        return replace(
            state,
            started=True,
            patient_id=event.patient_id,
            medication_id=event.medication_id,
            drug=event.drug,
            dose=event.dose,
            unit=event.unit,
            schedule=event.schedule,
            status="active",
            started_at=event.occurred_at,
            last_dose_change_at=event.occurred_at,
        )
    if isinstance(event, DoseAdjusted):
        return replace(state, dose=event.dose, unit=event.unit, last_dose_change_at=event.occurred_at)
    if isinstance(event, MedicationDiscontinued):
        return replace(state, status="discontinued", discontinued_at=event.occurred_at)
    if isinstance(event, AdverseEffectReported):
        return state
    raise TypeError(f"unsupported event: {type(event).__name__}")


def replay(events: Iterable[DomainEvent], state: CourseState = INITIAL_STATE) -> CourseState:
    """Fold a stream's history into the state ``decide`` works on."""
    for event in events:
        state = evolve(state, event)
    return state
