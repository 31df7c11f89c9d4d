"""v1 pharmacy events (free text) read as v2 (codes): the text dropped, ``other`` in its place,
so the service's own reads and every consumer see one shape; the stored event stays as it was."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.pharmacy.domain import (
    AdverseEffectReported,
    DoseAdjusted,
    Indication,
    MedicationDiscontinued,
    MedicationStarted,
)
from services.pharmacy.handlers import SERVICE, registry
from shared.envelope import Envelope
from shared.upcasts import upcast

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "Jane Doe"  # what a v1 client could type into any free-text field


def v1(name: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(id=uuid.uuid4(), type=f"carecoord.pharmacy.{name}.v1", source="/carecoord/pharmacy", subject="p-1",
                    clinic_id="clinic-a", stream_id="medication-m-1", stream_version=1, time=T,
                    payload={"patient_id": "p-1", "medication_id": "m-1", "occurred_at": T.isoformat(), **payload})


STARTED_V1 = {
    "drug": {"code": "36437", "system": "RxNorm", "name": f"sertraline for {SECRET}"},
    "dose": 50.0, "unit": "mg", "schedule": {"times_per_day": 1, "as_needed": False}, "route": "oral",
    "indication": f"depression after {SECRET}'s divorce", "prescriber_id": "staff-1",
    "formulary": {"version": "2026.1", "known": True}, "override_reason": f"{SECRET} asked"}


def test_a_v1_start_reads_without_its_free_text() -> None:
    event = registry().decode(v1("MedicationStarted", STARTED_V1))
    assert isinstance(event, MedicationStarted)
    assert (event.drug.name, event.indication, event.override_reason) == (None, None, "other")
    assert SECRET not in event.model_dump_json()


def test_a_v1_indication_that_was_an_icd10_code_stays_coded_and_no_override_stays_absent() -> None:
    event = registry().decode(v1("MedicationStarted", {**STARTED_V1, "indication": " F32.1 ",
                                                         "override_reason": None}))
    assert isinstance(event, MedicationStarted)
    assert (event.indication, event.override_reason) == (Indication(code="F32.1"), None)


def test_v1_reasons_and_effects_read_as_other() -> None:
    reg = registry()
    adjusted = reg.decode(v1("DoseAdjusted", {
        "previous_dose": 50.0, "dose": 100.0, "unit": "mg", "direction": "increase", "daily_dose": 100.0,
        "reason": f"{SECRET} felt no better", "prescriber_id": "staff-1", "override_reason": None}))
    stopped = reg.decode(v1("MedicationDiscontinued", {"reason": f"{SECRET} moved away",
                                                      "prescriber_id": "staff-1"}))
    effect = reg.decode(v1("AdverseEffectReported", {"effect": f"{SECRET} fainted", "severity": "severe",
                                                     "reporter_id": "staff-2"}))
    assert isinstance(adjusted, DoseAdjusted) and (adjusted.reason, adjusted.override_reason) == ("other", None)
    assert isinstance(stopped, MedicationDiscontinued) and stopped.reason == "other"
    assert isinstance(effect, AdverseEffectReported) and (effect.effect, effect.severity) == ("other", "severe")
    assert not any(SECRET in e.model_dump_json() for e in (adjusted, stopped, effect))


def test_a_consumer_applying_the_shared_steps_reads_the_producers_shape() -> None:
    env = v1("DoseAdjusted", {"previous_dose": 50.0, "dose": 25.0, "unit": "mg", "direction": "decrease",
                              "daily_dose": 25.0, "reason": "tolerability", "prescriber_id": "staff-1"})
    read = upcast(SERVICE, "DoseAdjusted", 1, env.payload)
    assert read == registry().decode(env).model_dump(mode="json") | {"occurred_at": T.isoformat(),
                                                                    "override_reason": None}
    assert upcast(SERVICE, "DoseAdjusted", 2, {"reason": "taper"}) == {"reason": "taper"}
