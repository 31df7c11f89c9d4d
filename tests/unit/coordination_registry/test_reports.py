"""The measures as FHIR R4 MeasureReports, each validated by fhir.resources."""

from __future__ import annotations

from fhir.resources.R4B.measurereport import MeasureReport

from services.coordination.registry.measures import MEASURES, Month, compute
from services.coordination.registry.record import care_record
from services.coordination.registry.reports import measure_reports
from tests.unit.coordination_rules.builders import day, escalated, scored

LATE = day(400)


def test_every_cell_is_a_valid_summary_measure_report_with_its_counts_and_score() -> None:
    records = []
    for n, esc in enumerate((60, 70, None)):
        p = f"p{n}"
        history = [scored("PHQ-9", 16, day(n), patient=p), scored("PHQ-9", 15, day(n + 40), patient=p)]
        history += [escalated(day(n + esc), patient=p)] if esc else []
        record = care_record(p, "clinic-a", history, LATE)
        assert record is not None
        records.append(record)
    result = compute(records, LATE, Month(2026, 3), Month(2026, 4), ["clinic-a"])
    reports = measure_reports(result)
    assert len(reports) == 2 * len(MEASURES)
    for report in reports:
        parsed = MeasureReport.model_validate(report)
        assert (parsed.status, parsed.type) == ("complete", "summary")
    by_id = {r["id"]: r for r in reports}
    median = by_id["clinic-a-2026-03-nonresponse-to-escalation-days"]
    counts = {p["code"]["coding"][0]["code"]: p["count"] for p in median["group"][0]["population"]}
    assert counts == {"initial-population": 3, "denominator": 3, "numerator": 2}
    assert median["group"][0]["measureScore"] == {"value": 9.0, "unit": "d", "system": "http://unitsofmeasure.org",
                                                  "code": "d"}  # days 4 and 14 after day 56
    assert median["period"] == {"start": "2026-03-01T00:00:00+00:00", "end": "2026-03-31T23:59:59.999+00:00"}
    assert median["measure"] == "urn:carecoord:measure:nonresponse_to_escalation_days|1"
    review = by_id["clinic-a-2026-03-case-review-8-12w"]["group"][0]
    assert review["measureScore"]["value"] == round(2 / 3, 4)
    empty = by_id["clinic-a-2026-04-follow-up-4w"]["group"][0]
    assert "measureScore" not in empty and [p["count"] for p in empty["population"]] == [0, 0, 0]
    assert "p0" not in repr(reports)  # a summary names no patient
