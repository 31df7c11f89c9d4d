"""Given a patient's history, when a command arrives, then these events (or this refusal)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.assessment.domain.commands import (
    EnrollPatient,
    ErasePatientIdentity,
    RecordAssessment,
    RecordLifeEvent,
    UpdatePatientPreferences,
)
from services.assessment.domain.events import (
    AssessmentRecorded,
    LifeCircumstanceChanged,
    PatientEnrolled,
    PatientIdentityErased,
    PatientPreferences,
    PatientPreferencesUpdated,
)
from services.assessment.domain.model import (
    INITIAL_STATE,
    Enrolled,
    Erased,
    PatientRecord,
    age_band,
    decide,
    evolve,
)
from services.assessment.handlers import DECIDER
from shared.errors import Conflict, NotFound, RuleViolation
from shared.events import DomainEvent

PATIENT = "pat-0001"
CLINIC = "clinic-north"
ENROLLED_AT = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
LATER = ENROLLED_AT + timedelta(days=14)
NAIVE = datetime(2024, 3, 15, 9, 0)
PREFS = PatientPreferences(language="de", prefers_non_pharmacological_first=True)

ENROLLED = PatientEnrolled(
    patient_id=PATIENT,
    clinic_id=CLINIC,
    age_band="40-49",
    preferences=PREFS,
    occurred_at=ENROLLED_AT,
)
ERASED = PatientIdentityErased(patient_id=PATIENT, occurred_at=LATER)


def given(*events: DomainEvent) -> PatientRecord:
    """The record after ``events``, folded as the service folds a stream."""
    return DECIDER.fold(events)


def enroll(birth_date: date = date(1980, 5, 17), at: datetime = ENROLLED_AT) -> EnrollPatient:
    return EnrollPatient(
        patient_id=PATIENT,
        clinic_id=CLINIC,
        birth_date=birth_date,
        preferences=PREFS,
        enrolled_at=at,
    )


def record_phq9(
    assessment_id: str = "asm-1",
    items: list[object] | None = None,
    at: datetime = LATER,
) -> RecordAssessment:
    return RecordAssessment(
        patient_id=PATIENT,
        assessment_id=assessment_id,
        instrument="PHQ-9",
        item_scores=items if items is not None else [2, 2, 2, 1, 1, 1, 1, 1, 1],
        administered_at=at,
        client_total=None,
    )


def life_event(
    category: str = "employment",
    direction: str = "worsened",
    impact: str = "high",
    at: datetime = LATER,
    life_event_id: str = "life-1",
) -> RecordLifeEvent:
    return RecordLifeEvent(
        patient_id=PATIENT,
        life_event_id=life_event_id,
        category=category,
        direction=direction,
        impact=impact,
        occurred_at=at,
    )


# --- enrollment -----------------------------------------------------------------------


def test_enrolling_a_new_patient_records_age_band_not_birth_date() -> None:
    events = decide(INITIAL_STATE, enroll())

    assert events == [ENROLLED]
    assert set(events[0].model_dump()) == {
        "patient_id",
        "clinic_id",
        "age_band",
        "preferences",
        "occurred_at",
    }


def test_enrolling_twice_is_a_conflict() -> None:
    with pytest.raises(Conflict) as refused:
        decide(given(ENROLLED), enroll())

    assert refused.value.reason == "patient is already enrolled"


def test_enrolling_after_erasure_is_still_a_conflict() -> None:
    with pytest.raises(Conflict):
        decide(given(ENROLLED, ERASED), enroll())


def test_birth_date_after_enrollment_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(INITIAL_STATE, enroll(birth_date=date(2024, 3, 2)))

    assert refused.value.field == "birth_date"


def test_enrollment_time_without_time_zone_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(INITIAL_STATE, enroll(at=NAIVE))

    assert (refused.value.field, refused.value.reason) == (
        "enrolled_at",
        "must include a time zone",
    )


@pytest.mark.parametrize(
    ("birth_date", "on", "band"),
    [
        (date(2024, 3, 1), date(2024, 3, 1), "0-9"),
        (date(1990, 6, 15), date(2020, 6, 14), "20-29"),
        (date(1990, 6, 15), date(2020, 6, 15), "30-39"),
        (date(1945, 1, 2), date(2025, 1, 1), "70-79"),
        (date(1945, 1, 2), date(2025, 1, 2), "80+"),
        (date(1920, 7, 1), date(2024, 7, 1), "80+"),
        (date(2000, 2, 29), date(2010, 2, 28), "0-9"),
        (date(2000, 2, 29), date(2010, 3, 1), "10-19"),
    ],
)
def test_age_band(birth_date: date, on: date, band: str) -> None:
    assert age_band(birth_date, on) == band


def test_age_band_uses_the_local_date_of_enrollment() -> None:
    just_after_local_midnight = datetime(2020, 6, 15, 0, 30, tzinfo=timezone(timedelta(hours=2)))

    events = decide(INITIAL_STATE, enroll(date(1990, 6, 15), just_after_local_midnight))

    assert isinstance(events[0], PatientEnrolled)
    assert events[0].age_band == "30-39"


def test_evolving_enrollment_opens_the_record() -> None:
    assert evolve(INITIAL_STATE, ENROLLED) == Enrolled(patient_id=PATIENT, clinic_id=CLINIC, preferences=PREFS)


# --- assessments ----------------------------------------------------------------------


def test_recording_an_assessment_scores_it() -> None:
    events = decide(given(ENROLLED), record_phq9())

    assert events == [
        AssessmentRecorded(
            patient_id=PATIENT,
            assessment_id="asm-1",
            instrument="PHQ-9",
            item_scores=[2, 2, 2, 1, 1, 1, 1, 1, 1],
            total=12,
            band="moderate",
            max_total=27,
            loinc="44261-6",
            safety_item_positive=True,
            occurred_at=LATER,
        )
    ]


def test_assessment_before_enrollment_of_record_is_not_found() -> None:
    with pytest.raises(NotFound):
        decide(INITIAL_STATE, record_phq9())


def test_assessment_on_erased_record_is_not_found() -> None:
    with pytest.raises(NotFound):
        decide(given(ENROLLED, ERASED), record_phq9())


def test_assessment_without_time_zone_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(given(ENROLLED), record_phq9(at=NAIVE))

    assert refused.value.field == "administered_at"
    assert refused.value.reason == "must include a time zone"


def test_invalid_item_refuses_the_whole_assessment() -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(given(ENROLLED), record_phq9(items=[0, 0, 0, 0, 0, 0, 0, 0, 4]))

    assert refused.value.field == "item_scores[8]"


def test_disagreeing_client_total_refuses_the_assessment() -> None:
    command = RecordAssessment(
        patient_id=PATIENT,
        assessment_id="asm-1",
        instrument="GAD-7",
        item_scores=[1, 1, 1, 1, 1, 1, 1],
        administered_at=LATER,
        client_total=8,
    )

    with pytest.raises(RuleViolation) as refused:
        decide(given(ENROLLED), command)

    assert refused.value.field == "total"


def test_recording_the_same_assessment_id_twice_is_a_conflict() -> None:
    history = given(ENROLLED, *decide(given(ENROLLED), record_phq9()))

    with pytest.raises(Conflict) as refused:
        decide(history, record_phq9())

    assert refused.value.field == "assessment_id"


def test_evolving_assessments_remembers_their_ids() -> None:
    first = decide(given(ENROLLED), record_phq9("asm-1"))
    second = decide(given(ENROLLED, *first), record_phq9("asm-2"))

    state = given(ENROLLED, *first, *second)

    assert state == Enrolled(PATIENT, CLINIC, PREFS, assessment_ids=frozenset({"asm-1", "asm-2"}))


# --- life events ----------------------------------------------------------------------


def test_recording_a_life_event() -> None:
    events = decide(given(ENROLLED), life_event())

    assert events == [
        LifeCircumstanceChanged(
            patient_id=PATIENT,
            life_event_id="life-1",
            category="employment",
            direction="worsened",
            impact="high",
            occurred_at=LATER,
        )
    ]
    assert given(ENROLLED, *events) == Enrolled(PATIENT, CLINIC, PREFS, life_event_ids=frozenset({"life-1"}))


@pytest.mark.parametrize(
    ("command", "field", "reason"),
    [
        (
            life_event(category="lottery"),
            "category",
            "must be one of: employment, housing, family, relationship, bereavement, "
            "financial, legal, caregiving, health, other",
        ),
        (life_event(direction="unchanged"), "direction", "must be one of: worsened, improved"),
        (life_event(impact="HIGH"), "impact", "must be one of: low, moderate, high"),
        (life_event(at=NAIVE), "occurred_at", "must include a time zone"),
    ],
)
def test_invalid_life_event_is_refused(command: RecordLifeEvent, field: str, reason: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(given(ENROLLED), command)

    assert (refused.value.field, refused.value.reason) == (field, reason)


def test_life_event_on_unknown_patient_is_not_found() -> None:
    with pytest.raises(NotFound):
        decide(INITIAL_STATE, life_event())


def test_recording_the_same_life_event_id_twice_is_a_conflict() -> None:
    history = given(ENROLLED, *decide(given(ENROLLED), life_event()))

    with pytest.raises(Conflict):
        decide(history, life_event(category="housing"))


# --- preferences ----------------------------------------------------------------------


def test_changing_preferences() -> None:
    new = PatientPreferences(language="tr", prefers_non_pharmacological_first=False)

    events = decide(given(ENROLLED), UpdatePatientPreferences(PATIENT, new, LATER))

    assert events == [
        PatientPreferencesUpdated(patient_id=PATIENT, preferences=new, occurred_at=LATER)
    ]
    assert given(ENROLLED, *events) == Enrolled(PATIENT, CLINIC, new)


def test_unchanged_preferences_produce_no_event() -> None:
    same = PatientPreferences(language="de", prefers_non_pharmacological_first=True)

    assert decide(given(ENROLLED), UpdatePatientPreferences(PATIENT, same, LATER)) == []


def test_preferences_of_unknown_patient_are_not_found() -> None:
    with pytest.raises(NotFound):
        decide(INITIAL_STATE, UpdatePatientPreferences(PATIENT, PREFS, LATER))


def test_preferences_without_time_zone_are_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(given(ENROLLED), UpdatePatientPreferences(PATIENT, PatientPreferences(), NAIVE))

    assert refused.value.field == "updated_at"


# --- erasure --------------------------------------------------------------------------


def test_erasing_identity_emits_a_marker_and_closes_the_record() -> None:
    events = decide(given(ENROLLED), ErasePatientIdentity(PATIENT, LATER))

    assert events == [ERASED]
    assert set(events[0].model_dump()) == {"patient_id", "occurred_at"}
    assert given(ENROLLED, *events) == Erased(PATIENT)


def test_erasing_twice_is_a_no_op() -> None:
    assert decide(given(ENROLLED, ERASED), ErasePatientIdentity(PATIENT, LATER)) == []


def test_erasing_an_unknown_patient_is_not_found() -> None:
    with pytest.raises(NotFound):
        decide(INITIAL_STATE, ErasePatientIdentity(PATIENT, LATER))


def test_erasure_without_time_zone_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        decide(given(ENROLLED), ErasePatientIdentity(PATIENT, NAIVE))

    assert refused.value.field == "erased_at"


def test_other_commands_on_erased_record_are_not_found() -> None:
    erased = given(ENROLLED, ERASED)

    with pytest.raises(NotFound):
        decide(erased, life_event())
    with pytest.raises(NotFound):
        decide(erased, UpdatePatientPreferences(PATIENT, PatientPreferences(), LATER))


# --- the decider's contract -----------------------------------------------------------


def test_unknown_command_and_event_types_are_programming_errors() -> None:
    with pytest.raises(TypeError):
        decide(INITIAL_STATE, object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        evolve(INITIAL_STATE, DomainEvent(occurred_at=LATER))


def test_nothing_recorded_after_erasure_reopens_the_record() -> None:
    # decide never records these; a stream that holds one stays closed and readable.
    assert given(ENROLLED, ERASED, ENROLLED, *decide(given(ENROLLED), record_phq9())) == Erased(PATIENT)
    assert given(ERASED) == INITIAL_STATE
