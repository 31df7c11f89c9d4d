"""The measures as MeasureReports of the FHIR export: a searchset Bundle that validates, each
report's counts the registry's, ids of the export's kind, the reporter resolving to an included
Organization; the measures in a bulk export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fhir.resources.R4B.bundle import Bundle

from services.coordination.fhir.export import EXPORT_TYPES, Wanted, ndjson_by_type, unknown_types
from services.coordination.fhir.measure_reports import default_months, measure_report_resources, searchset
from services.coordination.registry.measures import MEASURES, MeasuresResult, Month, compute
from services.coordination.registry.record import care_record
from tests.unit.coordination_fhir.fhir_checks import unresolved
from tests.unit.coordination_rules.builders import day, escalated, scored

LATE = day(400)
NOW = datetime(2027, 4, 6, 12, 0, tzinfo=UTC)
BASE = "http://x/v1/fhir"


def result(clinic: str = "clinic-a") -> MeasuresResult:
    records = []
    for n, esc in enumerate((60, 70, None)):
        p = f"p{n}"
        history = [scored("PHQ-9", 16, day(n), patient=p), scored("PHQ-9", 15, day(n + 40), patient=p)]
        history += [escalated(day(n + esc), patient=p)] if esc else []
        record = care_record(p, clinic, history, LATE)
        assert record is not None
        records.append(record)
    return compute(records, LATE, Month(2026, 3), Month(2026, 4), [clinic])


def populations(report: dict[str, object]) -> dict[str, int]:
    (group,) = report["group"]  # type: ignore[misc]
    return {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}


def test_the_searchset_validates_and_each_report_has_the_registrys_counts() -> None:
    measures = result()
    bundle = searchset(measures, BASE, BASE + "/MeasureReport?clinic=clinic-a", NOW)
    Bundle.model_validate(bundle)
    matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    includes = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert bundle["type"] == "searchset" and bundle["total"] == len(matches) == 2 * len(MEASURES)
    assert [e["resource"]["resourceType"] for e in includes] == ["Organization"]
    assert unresolved([e["resource"] for e in bundle["entry"]]) == set()
    for entry, cell in zip(matches, measures.cells, strict=True):
        report = entry["resource"]
        assert entry["fullUrl"] == f"{BASE}/MeasureReport/{report['id']}"
        assert populations(report) == {"initial-population": len(cell.denominator),
                                       "denominator": len(cell.denominator), "numerator": len(cell.numerator)}
        assert report["group"][0]["code"]["coding"][0]["code"] == cell.measure_id
        assert report["reporter"]["identifier"] == {"system": "urn:carecoord:clinic", "value": "clinic-a"}
    median = measures.cell("clinic-a", "2026-03", "nonresponse_to_escalation_days")
    assert median.median_days == 9.0 and len(median.numerator) == 2
    assert "p0" not in repr(bundle)  # a summary names no patient


def test_ids_are_stable_and_unique_even_for_long_clinic_ids() -> None:
    long_a, long_b = "clinic-" + "a" * 70, "clinic-" + "a" * 70 + "-annex"
    reports = measure_report_resources(result(long_a)) + measure_report_resources(result(long_b))
    ids = [r["id"] for r in reports]
    assert len(set(ids)) == len(ids) == 4 * len(MEASURES)
    assert all(uuid.UUID(i) for i in ids)
    assert [r["id"] for r in measure_report_resources(result(long_a))] == ids[:2 * len(MEASURES)]


def test_a_bulk_export_can_carry_the_measures() -> None:
    assert "MeasureReport" in EXPORT_TYPES and unknown_types(["MeasureReport"]) == []
    reports = measure_report_resources(result())
    # computed for the run: kept whatever _since says, left out when _type does not name them
    since = Wanted((), since=NOW)
    assert ndjson_by_type(reports, since)["MeasureReport"][0] == len(reports)
    assert ndjson_by_type(reports, Wanted(("Observation",))) == {}
    assert default_months(datetime(2026, 1, 31, 23, 0, tzinfo=UTC)) == (Month(2025, 2), Month(2026, 1))
