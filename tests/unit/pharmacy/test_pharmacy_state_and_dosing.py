"""Folding events into course state, dose arithmetic and the event payload contract."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from services.pharmacy.domain import (
    INITIAL_STATE,
    PHARMACY_EVENT_TYPES,
    Active,
    AdverseEffectReported,
    Discontinued,
    Prescription,
    Schedule,
    daily_dose,
    decide,
    direction_of_change,
    evolve,
    to_mg,
)
from shared.events import DomainEvent

from .builders import (
    LATER,
    MEDICATION,
    PATIENT,
    SERTRALINE,
    T0,
    adjust_command,
    adjusted,
    discontinued,
    formulary,
    given,
    start_command,
    started,
)

PRESCRIBED = Prescription(
    patient_id=PATIENT,
    medication_id=MEDICATION,
    drug=SERTRALINE,
    dose=50.0,
    unit="mg",
    schedule=Schedule(times_per_day=1),
    started_at=T0,
)


def test_a_started_course_is_active_with_its_prescription() -> None:
    assert given(started()) == Active(PRESCRIBED, last_dose_change_at=T0)


def test_a_dose_adjustment_updates_dose_unit_and_time() -> None:
    state = given(started(), adjusted(50.0, 0.1, LATER, unit="g", direction="increase"))
    assert state == Active(replace(PRESCRIBED, dose=0.1, unit="g"), last_dose_change_at=LATER)


def test_a_discontinued_course_keeps_its_prescription_as_it_stood() -> None:
    state = given(started(), adjusted(50.0, 100.0, T0 + timedelta(days=7)), discontinued(LATER))
    assert state == Discontinued(replace(PRESCRIBED, dose=100.0), discontinued_at=LATER)
    assert state.status == "discontinued"


def test_an_event_that_does_not_fit_the_stage_changes_nothing() -> None:
    # decide never records these; a stream that holds one stays readable and keeps its stage.
    stopped = given(started(), discontinued(LATER))
    assert evolve(stopped, adjusted(50.0, 100.0, LATER)) == stopped
    assert evolve(stopped, started()) == stopped
    assert given(adjusted(50.0, 100.0, LATER)) == INITIAL_STATE


def test_an_adverse_effect_does_not_change_the_course() -> None:
    before = given(started())
    report = AdverseEffectReported(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        effect="nausea",
        severity="mild",
        reporter_id="staff-31",
        occurred_at=LATER,
    )
    assert evolve(before, report) == before


def test_evolve_rejects_events_of_other_streams() -> None:
    class Foreign(DomainEvent):
        pass

    with pytest.raises(TypeError):
        evolve(INITIAL_STATE, Foreign(occurred_at=T0))


def test_decide_rejects_unknown_commands() -> None:
    @dataclass(frozen=True)
    class Unknown:
        medication_id: str

    with pytest.raises(TypeError):
        decide(INITIAL_STATE, Unknown("med-0001"), formulary())  # type: ignore[arg-type]


def test_the_same_history_and_command_give_the_same_events() -> None:
    # Retries and replays re-decide: the answer must not depend on when or how often.
    state = given(started())
    assert decide(state, adjust_command(), formulary()) == decide(given(started()), adjust_command(), formulary())


def test_decided_events_replay_into_the_state_the_next_decision_needs() -> None:
    history = decide(INITIAL_STATE, start_command(), formulary())
    history += decide(given(*history), adjust_command(), formulary())
    later = adjust_command(dose=150.0, effective_at=LATER + timedelta(days=7))
    (event,) = decide(given(*history), later, formulary())
    assert getattr(event, "previous_dose", None) == 100.0


def test_events_round_trip_through_json_and_name_their_type() -> None:
    events = [started(), adjusted(50.0, 100.0, LATER), discontinued()]
    for event in events:
        payload = event.model_dump(mode="json")
        assert type(event).model_validate(payload) == event
        assert event.event_name == type(event).__name__ and event.version == 2
    assert {cls.__name__ for cls in PHARMACY_EVENT_TYPES} == {
        "MedicationStarted",
        "DoseAdjusted",
        "MedicationDiscontinued",
        "AdverseEffectReported",
    }


@pytest.mark.parametrize(
    ("amount", "unit", "mg"),
    [(250.0, "mcg", 0.25), (20.0, "mg", 20.0), (1.5, "g", 1500.0), (2.0, "tablet", None)],
)
def test_to_mg(amount: float, unit: str, mg: float | None) -> None:
    assert to_mg(amount, unit) == mg


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Schedule(times_per_day=3), 150.0),
        (Schedule(times_per_day=3, as_needed=True), 150.0),
        (Schedule(times_per_day=None, as_needed=True), 50.0),
        (Schedule(times_per_day=None), 50.0),
    ],
)
def test_daily_dose(schedule: Schedule, expected: float) -> None:
    assert daily_dose(50.0, schedule) == expected


@pytest.mark.parametrize(
    ("before", "after", "direction"),
    [
        ((50.0, "mg"), (100.0, "mg"), "increase"),
        ((50.0, "mg"), (25.0, "mg"), "decrease"),
        ((50.0, "mg"), (50.0, "mg"), None),
        ((1.0, "g"), (1000.0, "mg"), "unit_change"),
        ((500.0, "mcg"), (1.0, "mg"), "increase"),
        ((1.0, "tablet"), (2.0, "tablet"), "increase"),
        ((1.0, "tablet"), (5.0, "mL"), "unit_change"),
    ],
)
def test_direction_of_change(before: tuple[float, str], after: tuple[float, str], direction: str | None) -> None:
    assert direction_of_change(*before, *after) == direction
