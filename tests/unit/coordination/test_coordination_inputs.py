"""Reading other services' events by field name: what is kept, and what is poison."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.coordination.handlers import registry
from services.coordination.projection import inputs
from services.coordination.projection.batch import project
from services.coordination.projection.facts import UnreadableEvent, read
from services.coordination.projection.state import PatientSummary
from shared.envelope import UnknownEventType
from tests.unit.coordination.builders import envelope, fact, history_of_all_kinds


def test_events_are_matched_by_service_and_name_whatever_the_version() -> None:
    v2 = fact("pharmacy", "MedicationDiscontinued", {"medication_id": "m-1", "new_field": 3}, version=2)
    assert isinstance(v2.body, inputs.MedicationDiscontinued)


@pytest.mark.parametrize(("service", "name"), [("assessment", "SomethingNew"), ("pharmacy", "PatientEnrolled"),
                                               ("coordination", "SomethingNew"), ("nutrition", "MealLogged")])
def test_a_type_coordination_does_not_read_is_refused_to_the_dead_letters(service: str, name: str) -> None:
    with pytest.raises(UnknownEventType):
        fact(service, name, {"a": 1})


def test_therapy_field_names_of_either_spelling_are_read() -> None:
    modern = fact("therapy", "ModalityChanged", {"from_modality": "cbt", "to_modality": "act", "reason": "other"})
    short = fact("therapy", "ModalityChanged", {"modality": "act"})
    assert isinstance(modern.body, inputs.ModalityChanged) and isinstance(short.body, inputs.ModalityChanged)
    assert modern.body.to_modality == short.body.to_modality == "act"


@pytest.mark.parametrize(("service", "name", "payload"), [
    ("assessment", "AssessmentRecorded", {"instrument": "PHQ-9", "total": 3, "band": "minimal"}),  # no id
    ("assessment", "AssessmentRecorded", {"assessment_id": "a", "instrument": "PHQ-9", "total": -1, "band": "x"}),
    ("pharmacy", "DoseAdjusted", {"medication_id": "m", "previous_dose": 1, "dose": "lots", "unit": "mg",
                                  "direction": "increase"}),
    ("pharmacy", "MedicationStarted", {"medication_id": "m", "drug": {"code": "1" * 500, "system": "RxNorm",
                                       "name": "x"}, "dose": 1, "unit": "mg", "schedule": {}}),
    ("therapy", "SessionCompleted", {"session_id": "s"}),
    ("coordination", "EscalationDecided", {"escalation_id": "e", "target": "surgery", "reason": "other",
                                           "due_by": "2026-03-02T09:00:00+00:00", "decided_by": "s"}),
])
def test_a_payload_without_the_fields_coordination_reads_is_refused(service: str, name: str,
                                                                    payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        fact(service, name, payload)


def test_an_envelope_without_patient_or_zone_is_unreadable() -> None:
    with pytest.raises(UnreadableEvent):
        read(envelope("pharmacy", "MedicationDiscontinued", {"medication_id": "m"}, patient=""), registry())
    with pytest.raises(UnreadableEvent):
        read(envelope("pharmacy", "MedicationDiscontinued", {"medication_id": "m"}, at=datetime(2026, 3, 2)),
             registry())


def test_a_newer_version_of_an_own_event_than_known_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        fact("coordination", "EscalationDecided", {}, version=9)


def test_the_stored_summary_reads_back_equal() -> None:
    _, changed = project({}, history_of_all_kinds())
    for summary in changed.values():
        assert PatientSummary.model_validate_json(summary.model_dump_json()) == summary
