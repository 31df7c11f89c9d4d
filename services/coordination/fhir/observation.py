"""Observation per assessment: the total (LOINC where one exists), its band and its items; pure."""

from __future__ import annotations

from typing import Any

from services.coordination.projection import inputs as i

from .codes import (
    INSTRUMENT,
    INSTRUMENT_ITEM,
    LOINC,
    LOINC_CODE,
    OBSERVATION_CATEGORY,
    SCORE_BAND,
    TOTAL_LOINC,
    concept,
    instant,
    resource_id,
    words,
)
from .common import Resource, patient_ref, shell
from .record import Source


def observation_id(assessment: Source) -> str:
    return resource_id("Observation", assessment.event_id)


def total_code(body: i.AssessmentRecorded) -> dict[str, Any]:
    """LOINC for the totals DOMAIN.md names, or the LOINC code the assessment service gave the
    instrument (Pain NRS); otherwise the instrument in the local system."""
    text = f"{body.instrument} total score"
    known = TOTAL_LOINC.get(body.instrument)
    if known:
        return concept(LOINC, known[0], known[1], text=text)
    if body.loinc and LOINC_CODE.match(body.loinc):
        return concept(LOINC, body.loinc, text=text)
    return concept(INSTRUMENT, body.instrument, text, text=text)


def observation(patient_id: str, assessment: Source) -> Resource:
    body = assessment.fact.body
    assert isinstance(body, i.AssessmentRecorded)
    return shell("Observation", observation_id(assessment), [assessment]) | {
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "survey", "Survey")],
        "code": total_code(body),
        "subject": patient_ref(patient_id),
        "effectiveDateTime": instant(assessment.fact.occurred_at),
        "issued": instant(assessment.fact.recorded_at),
        "valueInteger": body.total,
        "interpretation": [concept(SCORE_BAND, body.band, words(body.band), text=words(body.band))],
        "component": [
            {"code": concept(INSTRUMENT_ITEM, f"{body.instrument}/{n}", f"{body.instrument} item {n}"),
             "valueInteger": score}
            for n, score in enumerate(body.item_scores, start=1)],
    }
