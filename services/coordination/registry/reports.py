"""The measures as FHIR R4 ``MeasureReport`` resources (JSON dicts), pure.

One summary report per clinic, month and measure: the period is the month, the group carries
the initial population, denominator and numerator counts and the rate (or, for the median, the
median days) as ``measureScore``. The reporter is the clinic; no patient appears (a summary
report lists no subjects).
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

from .measures import MEASURES_BY_ID, Cell, MeasuresResult

MEASURE_SYSTEM = "urn:carecoord:measure"
CLINIC_SYSTEM = "urn:carecoord:clinic"
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
UCUM = "http://unitsofmeasure.org"


def _population(code: str, count: int) -> dict[str, Any]:
    return {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}, "count": count}


def _score(cell: Cell) -> dict[str, Any] | None:
    measure = MEASURES_BY_ID[cell.measure_id]
    if measure.kind == "median":
        if cell.median_days is None:
            return None
        return {"value": cell.median_days, "unit": "d", "system": UCUM, "code": "d"}
    return None if cell.rate is None else {"value": cell.rate, "unit": "1", "system": UCUM, "code": "1"}


def measure_report(cell: Cell, result: MeasuresResult) -> dict[str, Any]:
    measure = MEASURES_BY_ID[cell.measure_id]
    end = cell.month.end - timedelta(milliseconds=1)
    group: dict[str, Any] = {
        "code": {"coding": [{"system": MEASURE_SYSTEM, "code": measure.measure_id, "display": measure.title}]},
        "population": [_population("initial-population", len(cell.denominator)),
                       _population("denominator", len(cell.denominator)),
                       _population("numerator", len(cell.numerator))],
    }
    score = _score(cell)
    if score is not None:
        group["measureScore"] = score
    return {
        "resourceType": "MeasureReport",
        "id": re.sub(r"[^A-Za-z0-9.-]", "-", f"{cell.clinic_id}-{cell.month}-{measure.measure_id}")[:64],
        "status": "complete",
        "type": "summary",
        "measure": f"{MEASURE_SYSTEM}:{measure.measure_id}|{measure.version}",
        "date": result.as_of.astimezone(UTC).isoformat(),
        "reporter": {"identifier": {"system": CLINIC_SYSTEM, "value": cell.clinic_id}},
        "period": {"start": cell.month.start.isoformat(), "end": end.isoformat(timespec="milliseconds")},
        "group": [group],
    }


def measure_reports(result: MeasuresResult) -> list[dict[str, Any]]:
    """Every cell of ``result`` as a summary MeasureReport, in the result's order."""
    return [measure_report(cell, result) for cell in result.cells]
