"""Adjusting the dose of a course: direction, daily total, ceiling and every refusal."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.pharmacy.domain import DoseAdjusted, DrugRef, Schedule, decide
from shared.errors import Conflict, NotFound, RuleViolation
from shared.events import DomainEvent

from .builders import (
    LATER,
    MEDICATION,
    PATIENT,
    T0,
    adjust_command,
    adjusted,
    discontinued,
    formulary,
    given,
    refusal,
    started,
)

PARACETAMOL = DrugRef(code="161", system="RxNorm", name="paracetamol")


def adjust(*history: DomainEvent, **changes: object) -> DoseAdjusted:
    state = given(*(history or (started(),)))
    events = decide(state, adjust_command(**changes), formulary())
    assert len(events) == 1 and isinstance(events[0], DoseAdjusted)
    return events[0]


def test_an_increase_is_recorded_with_the_previous_dose() -> None:
    assert adjust() == DoseAdjusted(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        previous_dose=50.0,
        dose=100.0,
        unit="mg",
        direction="increase",
        reason="insufficient_response",
        prescriber_id="staff-12",
        daily_dose=100.0,
        override_reason=None,
        occurred_at=LATER,
    )


def test_a_decrease_is_recorded_as_such() -> None:
    assert adjust(dose=25.0).direction == "decrease"


def test_the_daily_dose_follows_the_schedule() -> None:
    event = adjust(started(schedule=Schedule(times_per_day=2)), dose=75.0)
    assert event.daily_dose == 150.0


def test_the_previous_dose_is_the_latest_adjusted_dose() -> None:
    history = (started(), adjusted(50.0, 100.0, T0 + timedelta(days=7)))
    event = adjust(*history, dose=150.0)
    assert (event.previous_dose, event.direction) == (100.0, "increase")


def test_the_same_amount_in_another_mass_unit_is_a_unit_change() -> None:
    history = (started(drug=PARACETAMOL, dose=1.0, unit="g"),)
    event = adjust(*history, dose=1000.0, unit="mg")
    assert (event.direction, event.unit, event.previous_dose) == ("unit_change", "mg", 1.0)


def test_mass_units_are_compared_in_milligrams() -> None:
    history = (started(drug=PARACETAMOL, dose=0.5, unit="g"),)
    assert adjust(*history, dose=750.0, unit="mg").direction == "increase"
    assert adjust(*history, dose=250.0, unit="mg").direction == "decrease"


def test_a_change_to_a_unit_of_another_kind_is_a_unit_change() -> None:
    assert adjust(dose=2.0, unit="tablet").direction == "unit_change"


@pytest.mark.parametrize("dose", [50.0, 0.1 + 0.2 + 49.7])
def test_an_unchanged_dose_is_refused(dose: float) -> None:
    error = refusal(given(started()), adjust_command(dose=dose))
    assert isinstance(error, RuleViolation) and error.field == "dose"
    assert error.reason == "the new dose equals the current dose"


def test_a_daily_dose_above_the_maximum_is_refused() -> None:
    state = given(started(schedule=Schedule(times_per_day=2)))
    error = refusal(state, adjust_command(dose=150.0))
    assert isinstance(error, RuleViolation) and error.field == "dose"
    assert "maximum daily dose of 200 mg" in error.reason


def test_an_override_reason_allows_it_and_is_recorded() -> None:
    event = adjust(dose=300.0, override_reason="specialist_advice")
    assert (event.daily_dose, event.override_reason) == (300.0, "specialist_advice")


def test_a_drug_unknown_to_the_formulary_has_no_ceiling() -> None:
    unknown = DrugRef(code="99999999", system="RxNorm", name="new drug")
    assert adjust(started(drug=unknown), dose=5000.0).dose == 5000.0


def test_an_adjustment_at_the_start_time_is_accepted() -> None:
    assert adjust(effective_at=T0).occurred_at == T0


def test_adjusting_a_course_that_was_never_started_is_not_found() -> None:
    error = refusal(given(), adjust_command())
    assert isinstance(error, NotFound) and error.field == "medication_id"


def test_adjusting_another_patients_course_is_not_found() -> None:
    error = refusal(given(started()), adjust_command(patient_id="patient-other"))
    assert isinstance(error, NotFound) and error.field == "medication_id"


def test_adjusting_a_discontinued_course_conflicts() -> None:
    error = refusal(given(started(), discontinued()), adjust_command())
    assert isinstance(error, Conflict) and error.field == "medication_id"


def test_an_adjustment_before_the_start_is_refused() -> None:
    command = adjust_command(effective_at=T0 - timedelta(minutes=1))
    error = refusal(given(started()), command)
    assert isinstance(error, RuleViolation) and error.field == "effective_at"
    assert "course start" in error.reason


def test_an_adjustment_before_the_latest_dose_change_is_refused() -> None:
    state = given(started(), adjusted(50.0, 100.0, LATER))
    error = refusal(state, adjust_command(dose=150.0, effective_at=LATER - timedelta(days=1)))
    assert isinstance(error, RuleViolation) and error.field == "effective_at"
    assert "latest dose change" in error.reason


def test_the_effective_time_must_have_a_time_zone() -> None:
    error = refusal(given(started()), adjust_command(effective_at=datetime(2026, 3, 16, 9)))
    assert isinstance(error, RuleViolation) and error.field == "effective_at"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dose": 0.0}, "dose"),
        ({"dose": float("nan")}, "dose"),
        ({"unit": "mgs"}, "unit"),
        ({"reason": " "}, "reason"),
        ({"reason": "partial response at week 2"}, "reason"),
        ({"override_reason": "consultant said so", "dose": 300.0}, "override_reason"),
        ({"prescriber_id": ""}, "prescriber_id"),
    ],
)
def test_invalid_input_is_refused(changes: dict[str, object], field: str) -> None:
    error = refusal(given(started()), adjust_command(**changes))
    assert isinstance(error, RuleViolation) and error.field == field
