"""Ready-made commands and events for pharmacy tests, changed per test with keywords."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from services.pharmacy.domain import (
    AdjustDose,
    CourseState,
    DiscontinueMedication,
    DoseAdjusted,
    DrugRef,
    Indication,
    MedicationDiscontinued,
    MedicationStarted,
    ReportAdverseEffect,
    Schedule,
    StartMedication,
    decide,
    snapshot,
)
from services.pharmacy.domain.commands import Command
from services.pharmacy.formulary import Formulary, load_formulary
from services.pharmacy.handlers import decider
from shared.errors import DomainError
from shared.events import DomainEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=14)
PATIENT = "patient-7f3a"
MEDICATION = "med-0001"
PRESCRIBER = "staff-12"
SERTRALINE = DrugRef(code="36437", system="RxNorm", name="sertraline")  # the formulary's name
MODERATE_DEPRESSION = Indication(code="F32.1")
ONCE_DAILY = Schedule(times_per_day=1)


@cache
def formulary() -> Formulary:
    return load_formulary()


def start_command(**changes: Any) -> StartMedication:
    command = StartMedication(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        drug=SERTRALINE,
        dose=50.0,
        unit="mg",
        schedule=ONCE_DAILY,
        route="oral",
        indication=MODERATE_DEPRESSION,
        started_at=T0,
        prescriber_id=PRESCRIBER,
    )
    return replace(command, **changes)


def adjust_command(**changes: Any) -> AdjustDose:
    command = AdjustDose(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        dose=100.0,
        unit="mg",
        reason="insufficient_response",
        effective_at=LATER,
        prescriber_id=PRESCRIBER,
    )
    return replace(command, **changes)


def discontinue_command(**changes: Any) -> DiscontinueMedication:
    command = DiscontinueMedication(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        reason="remission",
        effective_at=LATER,
        prescriber_id=PRESCRIBER,
    )
    return replace(command, **changes)


def report_command(**changes: Any) -> ReportAdverseEffect:
    command = ReportAdverseEffect(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        effect="nausea",
        severity="moderate",
        observed_at=LATER,
        reporter_id="staff-31",
    )
    return replace(command, **changes)


def started(**changes: Any) -> MedicationStarted:
    """The event a StartMedication with these changes records."""
    command = start_command(**changes)
    return MedicationStarted(
        patient_id=command.patient_id,
        medication_id=command.medication_id,
        drug=command.drug,
        dose=command.dose,
        unit=command.unit,
        schedule=command.schedule,
        route=command.route,
        indication=command.indication,
        prescriber_id=command.prescriber_id,
        formulary=snapshot(formulary(), command.drug),
        override_reason=command.override_reason,
        occurred_at=command.started_at,
    )


def adjusted(previous_dose: float, dose: float, at: datetime, **changes: Any) -> DoseAdjusted:
    fields: dict[str, Any] = {
        "patient_id": PATIENT,
        "medication_id": MEDICATION,
        "previous_dose": previous_dose,
        "dose": dose,
        "unit": "mg",
        "direction": "increase" if dose > previous_dose else "decrease",
        "reason": "titration",
        "prescriber_id": PRESCRIBER,
        "daily_dose": dose,
        "occurred_at": at,
    }
    return DoseAdjusted(**(fields | changes))


def discontinued(at: datetime = LATER) -> MedicationDiscontinued:
    return MedicationDiscontinued(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        reason="remission",
        prescriber_id=PRESCRIBER,
        occurred_at=at,
    )


def given(*events: DomainEvent) -> CourseState:
    """The course after ``events``, folded as the service folds a stream."""
    return decider(formulary()).fold(events)


def refusal(state: CourseState, command: Command) -> DomainError:
    """The error ``decide`` refuses the command with (the test fails if it does not)."""
    with pytest.raises(DomainError) as info:
        decide(state, command, formulary())
    return info.value
