"""The response models document the JSON the endpoints have always given, byte for byte: moments as
``isoformat()`` writes them, a median only on the median measure, patient ids only when asked."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, get_args

import pytest

from services.coordination.registry.api import result_json
from services.coordination.registry.caseload import caseload_row, in_active_care
from services.coordination.registry.measures import MEASURES, Month, compute
from services.coordination.registry.record import care_record
from services.coordination.registry.schemas import CaseloadPage, MeasureId, MeasuresPage
from tests.bench.measures import AS_OF, clinic_histories


def plain(value: Any) -> Any:
    """What the endpoints wrote before they had models: every moment through isoformat()."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def records() -> list[Any]:
    found = (care_record(pid, "clinic-a", events, AS_OF) for pid, events in clinic_histories(60, seed=3))
    return [r for r in found if r is not None]


def test_measure_ids_are_the_catalogue() -> None:
    assert set(get_args(MeasureId)) == {m.measure_id for m in MEASURES}


@pytest.mark.parametrize("patients", [False, True])
def test_the_measures_model_writes_what_result_json_gives(patients: bool) -> None:
    result = compute(records(), AS_OF, Month(2025, 7), Month(2026, 6), ["clinic-a", "clinic-b"])
    body = result_json(result, patients)
    dumped = MeasuresPage.model_validate(body).model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped == plain(body)
    assert json.dumps(dumped) == json.dumps(plain(body))  # the keys' order too
    cells = [c for clinic in dumped["clinics"] for m in clinic["months"] for c in m["measures"]]
    assert any(c["rate"] is None for c in cells) and any(c["rate"] for c in cells)
    assert all(("median_days" in c) == (c["measure_id"] == "nonresponse_to_escalation_days") for c in cells)
    assert all(("patients" in c) is patients for c in cells)


def test_the_caseload_model_writes_what_the_rows_give() -> None:
    rows = [caseload_row(r, f"staff-{i % 3}" if i % 4 else None, {"warning": i % 2, "urgent": i % 5 == 0}, AS_OF)
            for i, r in enumerate(records()) if in_active_care(r)]
    body = {"patients": rows, "next_cursor": "abc", "as_of": AS_OF}
    dumped = CaseloadPage.model_validate(body).model_dump(mode="json")
    assert json.dumps(dumped) == json.dumps(plain(body))
    assert dumped["as_of"] == "2026-07-01T00:00:00+00:00"
    assert any(r["gad7"] is None for r in dumped["patients"]) and any(r["care_manager"] is None for r in rows)
