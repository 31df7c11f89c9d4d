"""Starting a medication course: the event it records and every refusal."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.pharmacy.domain import (
    INITIAL_STATE,
    DrugRef,
    FormularySnapshot,
    Indication,
    MaxDailyDose,
    MedicationStarted,
    Schedule,
    decide,
)
from shared.errors import Conflict, RuleViolation

from .builders import MEDICATION, PATIENT, T0, formulary, given, refusal, start_command, started

TRAMADOL = DrugRef(code="10689", system="RxNorm", name="tramadol")
PARACETAMOL = DrugRef(code="161", system="RxNorm", name="paracetamol")
ESCITALOPRAM = DrugRef(code="N06AB10", system="ATC", name="escitalopram")


def start(**changes: object) -> MedicationStarted:
    events = decide(INITIAL_STATE, start_command(**changes), formulary())
    assert len(events) == 1 and isinstance(events[0], MedicationStarted)
    return events[0]


def test_starting_a_known_drug_records_the_formulary_snapshot() -> None:
    event = start()
    assert event == MedicationStarted(
        patient_id=PATIENT,
        medication_id=MEDICATION,
        drug=DrugRef(code="36437", system="RxNorm", name="sertraline"),
        dose=50.0,
        unit="mg",
        schedule=Schedule(times_per_day=1, as_needed=False),
        route="oral",
        indication=Indication(system="ICD-10", code="F32.1"),
        prescriber_id="staff-12",
        formulary=FormularySnapshot(
            version="2026.1",
            known=True,
            atc="N06AB06",
            therapeutic_class="N06AB",
            serotonergic=True,
            max_daily_dose=MaxDailyDose(value=200),
        ),
        override_reason=None,
        occurred_at=T0,
    )


def test_the_snapshot_carries_every_interaction_flag() -> None:
    snapshot = start(drug=TRAMADOL, dose=50.0).formulary
    assert (snapshot.opioid, snapshot.serotonergic, snapshot.cns_depressant) == (True,) * 3
    assert (snapshot.benzodiazepine, snapshot.qt_prolonging) == (False, False)
    assert snapshot.therapeutic_class == "N02AX"


def test_a_known_drug_sent_by_atc_code_is_recognised() -> None:
    snapshot = start(drug=ESCITALOPRAM, dose=10.0).formulary
    assert snapshot.known and snapshot.qt_prolonging and snapshot.atc == "N06AB10"


def test_a_drug_unknown_to_the_formulary_is_accepted_without_flags() -> None:
    drug = DrugRef(code="99999999", system="RxNorm", name="new drug")
    event = start(drug=drug, dose=5000.0)
    assert event.formulary == FormularySnapshot(version="2026.1", known=False)


def test_the_event_names_a_known_drug_as_the_formulary_does_and_an_unknown_one_not_at_all() -> None:
    typed = DrugRef(code="36437", system="RxNorm", name="Jane Doe's sertraline")
    assert start(drug=typed).drug == DrugRef(code="36437", system="RxNorm", name="sertraline")
    unknown = start(drug=DrugRef(code="99999999", system="RxNorm", name="Jane Doe"), dose=5.0)
    assert unknown.drug == DrugRef(code="99999999", system="RxNorm", name=None)
    assert "Jane" not in unknown.model_dump_json()


def test_an_unknown_atc_coded_drug_keeps_its_atc_group() -> None:
    drug = DrugRef(code="n06ax99", system="ATC", name="new antidepressant")
    snapshot = start(drug=drug).formulary
    assert (snapshot.known, snapshot.atc, snapshot.therapeutic_class) == (
        False,
        "N06AX99",
        "N06AX",
    )


def test_the_route_is_trimmed_and_no_indication_is_absent() -> None:
    event = start(route="  oral ", indication=None)
    assert (event.route, event.indication) == ("oral", None)


def test_starting_a_course_twice_conflicts() -> None:
    error = refusal(given(started()), start_command())
    assert isinstance(error, Conflict) and error.field == "medication_id"


def test_a_daily_dose_at_the_maximum_is_accepted() -> None:
    assert start(dose=100.0, schedule=Schedule(times_per_day=2)).dose == 100.0


def test_a_daily_dose_above_the_maximum_is_refused_naming_the_maximum() -> None:
    error = refusal(INITIAL_STATE, start_command(dose=150.0, schedule=Schedule(times_per_day=2)))
    assert isinstance(error, RuleViolation) and error.field == "dose"
    assert "300 mg" in error.reason and "maximum daily dose of 200 mg" in error.reason


def test_an_override_reason_allows_more_than_the_maximum_and_is_recorded() -> None:
    event = start(dose=250.0, override_reason="specialist_advice")
    assert event.override_reason == "specialist_advice"


def test_an_override_reason_outside_the_codes_does_not_override() -> None:
    error = refusal(INITIAL_STATE, start_command(dose=250.0, override_reason="specialist advice for OCD"))
    assert isinstance(error, RuleViolation) and error.field == "override_reason"
    assert "benefit_outweighs_risk" in error.reason


def test_no_override_reason_does_not_override() -> None:
    error = refusal(INITIAL_STATE, start_command(dose=250.0, override_reason=None))
    assert isinstance(error, RuleViolation) and error.field == "dose"


def test_micrograms_are_compared_in_milligrams() -> None:
    command = start_command(drug=ESCITALOPRAM, dose=25000.0, unit="mcg")
    error = refusal(INITIAL_STATE, command)
    assert isinstance(error, RuleViolation) and "25 mg" in error.reason


def test_grams_are_compared_in_milligrams() -> None:
    assert start(drug=PARACETAMOL, dose=1.0, unit="g", schedule=Schedule(times_per_day=4))
    error = refusal(
        INITIAL_STATE,
        start_command(drug=PARACETAMOL, dose=1.0, unit="g", schedule=Schedule(times_per_day=5)),
    )
    assert isinstance(error, RuleViolation) and "maximum daily dose of 4000 mg" in error.reason


def test_as_needed_use_is_checked_at_its_most_frequent_allowed_use() -> None:
    assert start(drug=TRAMADOL, dose=100.0, schedule=Schedule(times_per_day=4, as_needed=True))
    command = start_command(drug=TRAMADOL, dose=100.0, schedule=Schedule(times_per_day=5, as_needed=True))
    assert isinstance(refusal(INITIAL_STATE, command), RuleViolation)


def test_as_needed_use_without_a_frequency_is_checked_as_one_dose() -> None:
    as_needed = Schedule(times_per_day=None, as_needed=True)
    assert start(dose=200.0, schedule=as_needed)
    error = refusal(INITIAL_STATE, start_command(dose=250.0, schedule=as_needed))
    assert isinstance(error, RuleViolation) and error.field == "dose"


def test_doses_in_units_other_than_mass_are_not_compared() -> None:
    assert start(dose=10.0, unit="tablet", schedule=Schedule(times_per_day=4))


def test_a_drug_without_a_maximum_accepts_any_positive_dose() -> None:
    morphine = DrugRef(code="7052", system="RxNorm", name="morphine")
    assert start(drug=morphine, dose=1000.0).formulary.max_daily_dose is None


@pytest.mark.parametrize("dose", [0.0, -5.0, float("nan"), float("inf"), True])
def test_the_dose_must_be_a_finite_positive_number(dose: float) -> None:
    error = refusal(INITIAL_STATE, start_command(dose=dose))
    assert isinstance(error, RuleViolation) and error.field == "dose"


@pytest.mark.parametrize("unit", ["mgs", "ML", "milligram", ""])
def test_the_unit_must_be_one_of_the_allowed_units(unit: str) -> None:
    error = refusal(INITIAL_STATE, start_command(unit=unit))
    assert isinstance(error, RuleViolation) and error.field == "unit"


@pytest.mark.parametrize("unit", ["mg", "mcg", "g", "mL", "drop", "tablet", "patch", "IU"])
def test_every_allowed_unit_is_accepted(unit: str) -> None:
    assert start(dose=0.1, unit=unit).unit == unit


def test_the_start_time_must_have_a_time_zone() -> None:
    error = refusal(INITIAL_STATE, start_command(started_at=datetime(2026, 3, 2, 9, 0)))
    assert isinstance(error, RuleViolation) and error.field == "started_at"


@pytest.mark.parametrize("times", [0, 25, -1])
def test_times_per_day_must_be_between_1_and_24(times: int) -> None:
    error = refusal(INITIAL_STATE, start_command(schedule=Schedule(times_per_day=times)))
    assert isinstance(error, RuleViolation) and error.field == "schedule.times_per_day"


def test_times_per_day_may_be_24() -> None:
    assert start(dose=1.0, schedule=Schedule(times_per_day=24)).schedule.times_per_day == 24


@pytest.mark.parametrize(
    ("drug", "field"),
    [
        (DrugRef(code="sertraline", system="RxNorm", name="sertraline"), "drug.code"),
        (DrugRef(code="N06AB", system="ATC", name="SSRIs"), "drug.code"),
    ],
)
def test_the_drug_must_be_well_formed(drug: DrugRef, field: str) -> None:
    error = refusal(INITIAL_STATE, start_command(drug=drug))
    assert isinstance(error, RuleViolation) and error.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"route": " "}, "route"),
        ({"prescriber_id": ""}, "prescriber_id"),
        ({"patient_id": ""}, "patient_id"),
        ({"medication_id": " "}, "medication_id"),
        ({"override_reason": "x", "dose": 250.0}, "override_reason"),
    ],
)
def test_required_text_must_be_present_and_short(changes: dict[str, object], field: str) -> None:
    error = refusal(INITIAL_STATE, start_command(**changes))
    assert isinstance(error, RuleViolation) and error.field == field
