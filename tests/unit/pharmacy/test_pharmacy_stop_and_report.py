"""Discontinuing a course and reporting adverse effects: events and every refusal."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.pharmacy.domain import AdverseEffectReported, MedicationDiscontinued, decide
from shared.errors import Conflict, NotFound, RuleViolation

from .builders import (
    LATER,
    MEDICATION,
    PATIENT,
    T0,
    adjusted,
    discontinue_command,
    discontinued,
    formulary,
    given,
    refusal,
    report_command,
    started,
)


def test_discontinuing_records_the_stop() -> None:
    events = decide(given(started()), discontinue_command(), formulary())
    assert events == [
        MedicationDiscontinued(
            patient_id=PATIENT,
            medication_id=MEDICATION,
            reason="remission",
            prescriber_id="staff-12",
            occurred_at=LATER,
        )
    ]


def test_discontinuing_at_the_start_time_is_accepted() -> None:
    assert decide(given(started()), discontinue_command(effective_at=T0), formulary())


def test_discontinuing_twice_conflicts() -> None:
    error = refusal(given(started(), discontinued()), discontinue_command())
    assert isinstance(error, Conflict) and error.field == "medication_id"


def test_discontinuing_a_course_that_was_never_started_is_not_found() -> None:
    error = refusal(given(), discontinue_command())
    assert isinstance(error, NotFound) and error.field == "medication_id"


def test_discontinuing_another_patients_course_is_not_found() -> None:
    error = refusal(given(started()), discontinue_command(patient_id="patient-other"))
    assert isinstance(error, NotFound)


def test_discontinuing_before_the_start_is_refused() -> None:
    command = discontinue_command(effective_at=T0 - timedelta(days=1))
    error = refusal(given(started()), command)
    assert isinstance(error, RuleViolation) and error.field == "effective_at"


def test_discontinuing_before_the_latest_dose_change_is_refused() -> None:
    state = given(started(), adjusted(50.0, 100.0, LATER))
    error = refusal(state, discontinue_command(effective_at=LATER - timedelta(hours=1)))
    assert isinstance(error, RuleViolation) and error.field == "effective_at"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"effective_at": datetime(2026, 3, 16, 9)}, "effective_at"),
        ({"reason": ""}, "reason"),
        ({"reason": "remission sustained"}, "reason"),
        ({"prescriber_id": " "}, "prescriber_id"),
    ],
)
def test_invalid_discontinuation_is_refused(changes: dict[str, object], field: str) -> None:
    error = refusal(given(started()), discontinue_command(**changes))
    assert isinstance(error, RuleViolation) and error.field == field


def test_reporting_an_adverse_effect_records_it() -> None:
    events = decide(given(started()), report_command(), formulary())
    assert events == [
        AdverseEffectReported(
            patient_id=PATIENT,
            medication_id=MEDICATION,
            effect="nausea",
            severity="moderate",
            reporter_id="staff-31",
            occurred_at=LATER,
        )
    ]


@pytest.mark.parametrize("severity", ["mild", "moderate", "severe"])
def test_every_severity_is_accepted(severity: str) -> None:
    events = decide(given(started()), report_command(severity=severity), formulary())
    assert isinstance(events[0], AdverseEffectReported) and events[0].severity == severity


def test_an_effect_observed_at_the_start_time_is_accepted() -> None:
    assert decide(given(started()), report_command(observed_at=T0), formulary())


def test_a_discontinuation_effect_can_be_reported_after_the_stop() -> None:
    later = LATER + timedelta(days=3)
    events = decide(given(started(), discontinued()), report_command(observed_at=later), formulary())
    assert isinstance(events[0], AdverseEffectReported) and events[0].occurred_at == later


def test_reporting_on_a_course_that_was_never_started_is_not_found() -> None:
    error = refusal(given(), report_command())
    assert isinstance(error, NotFound) and error.field == "medication_id"


def test_an_effect_observed_before_the_start_is_refused() -> None:
    error = refusal(given(started()), report_command(observed_at=T0 - timedelta(seconds=1)))
    assert isinstance(error, RuleViolation) and error.field == "observed_at"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"observed_at": datetime(2026, 3, 16, 9)}, "observed_at"),
        ({"severity": "life-threatening"}, "severity"),
        ({"severity": "Severe"}, "severity"),
        ({"effect": "  "}, "effect"),
        ({"effect": "felt sick after breakfast"}, "effect"),
        ({"reporter_id": ""}, "reporter_id"),
    ],
)
def test_invalid_reports_are_refused(changes: dict[str, object], field: str) -> None:
    error = refusal(given(started()), report_command(**changes))
    assert isinstance(error, RuleViolation) and error.field == field
