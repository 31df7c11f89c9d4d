"""Event payloads: names, versions, immutability and the absence of identifying data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.assessment.domain.events import (
    ASSESSMENT_EVENT_TYPES,
    AssessmentRecorded,
    LifeCircumstanceChanged,
    PatientEnrolled,
    PatientPreferences,
)
from services.assessment.domain.vocabulary import (
    LIFE_EVENT_CATEGORIES,
    LIFE_EVENT_DIRECTIONS,
    LIFE_EVENT_IMPACTS,
)
from shared.events import DomainEvent

AT = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

IDENTIFYING_FIELDS = {"name", "birth_date", "record_number", "mrn", "note", "address"}


def test_event_names_and_versions() -> None:
    assert [(t.event_name, t.version) for t in ASSESSMENT_EVENT_TYPES] == [
        ("PatientEnrolled", 1),
        ("AssessmentRecorded", 1),
        ("LifeCircumstanceChanged", 1),
        ("PatientPreferencesUpdated", 1),
        ("PatientIdentityErased", 1),
    ]


@pytest.mark.parametrize("event_type", ASSESSMENT_EVENT_TYPES)
def test_no_event_carries_identifying_fields(event_type: type[DomainEvent]) -> None:
    assert IDENTIFYING_FIELDS.isdisjoint(event_type.model_fields)
    assert "occurred_at" in event_type.model_fields


def test_life_event_note_is_rejected_by_the_payload() -> None:
    with pytest.raises(ValidationError):
        LifeCircumstanceChanged(
            patient_id="p",
            life_event_id="l",
            category="housing",
            direction="worsened",
            impact="low",
            occurred_at=AT,
            note="moved in with her sister",  # type: ignore[call-arg]
        )


def test_events_are_immutable() -> None:
    event = PatientEnrolled(
        patient_id="p",
        clinic_id="c",
        age_band="30-39",
        preferences=PatientPreferences(),
        occurred_at=AT,
    )

    with pytest.raises(ValidationError):
        event.age_band = "40-49"  # type: ignore[misc]


def test_assessment_event_round_trips_through_json() -> None:
    event = AssessmentRecorded(
        patient_id="p",
        assessment_id="a",
        instrument="PAIN-NRS",
        item_scores=[7],
        total=7,
        band="severe",
        max_total=10,
        loinc="72514-3",
        safety_item_positive=False,
        occurred_at=AT,
    )

    assert AssessmentRecorded.model_validate_json(event.model_dump_json()) == event


def test_enrolled_preferences_serialise_as_a_plain_mapping() -> None:
    event = PatientEnrolled(
        patient_id="p",
        clinic_id="c",
        age_band="80+",
        preferences=PatientPreferences(language=None, prefers_non_pharmacological_first=True),
        occurred_at=AT,
    )

    assert event.model_dump(mode="json")["preferences"] == {
        "language": None,
        "prefers_non_pharmacological_first": True,
    }


def test_life_event_vocabularies() -> None:
    assert LIFE_EVENT_CATEGORIES == (
        "employment",
        "housing",
        "family",
        "relationship",
        "bereavement",
        "financial",
        "legal",
        "caregiving",
        "health",
        "other",
    )
    assert LIFE_EVENT_DIRECTIONS == ("worsened", "improved")
    assert LIFE_EVENT_IMPACTS == ("low", "moderate", "high")


def test_life_event_payload_refuses_values_outside_the_vocabulary() -> None:
    with pytest.raises(ValidationError):
        LifeCircumstanceChanged.model_validate(
            {
                "patient_id": "p",
                "life_event_id": "l",
                "category": "lottery",
                "direction": "improved",
                "impact": "low",
                "occurred_at": AT,
            }
        )
