"""MedicationStatement per course and AdverseEvent per reported adverse effect; pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.coordination.projection import inputs as i
from services.coordination.projection.describe import number

from .codes import (
    ADVERSE_EFFECT,
    ADVERSE_EFFECTS,
    ADVERSE_EVENT_SEVERITY,
    ATC,
    DISCONTINUATION_REASON,
    DRUG_SYSTEMS,
    ICD10,
    UCUM,
    UCUM_UNITS,
    coding,
    concept,
    instant,
    ref,
    resource_id,
)
from .common import Resource, patient_ref, period, shell
from .record import Course, Source


def statement_id(course: Course) -> str:
    return resource_id("MedicationStatement", course.start.fact.stream_id)


def adverse_event_id(effect: Source) -> str:
    return resource_id("AdverseEvent", effect.event_id)


def _started(course: Course) -> i.MedicationStarted:
    body = course.start.fact.body
    assert isinstance(body, i.MedicationStarted)
    return body


def medication_concept(body: i.MedicationStarted) -> dict[str, Any]:
    """The drug as prescribed (RxNorm or ATC) and, for an RxNorm drug the formulary classed, its
    ATC code as a second coding. The display is the formulary's name, given only where the event
    carried one (otherwise the text is the code itself, and a display would repeat it)."""
    system = DRUG_SYSTEMS.get(body.drug.system)
    display = body.drug.name if body.drug.named else None
    codings = [coding(system, body.drug.code, display)] if system else []
    atc = body.formulary.atc
    if atc and system != ATC:
        codings.append(coding(ATC, atc))
    return {"coding": codings, "text": body.drug.name}


def dose_quantity(dose: float, unit: str) -> dict[str, Any]:
    code = UCUM_UNITS.get(unit)
    return {"value": dose, "unit": unit} | ({"system": UCUM, "code": code} if code else {})


def _schedule_text(schedule: i.Schedule) -> str:
    times = schedule.times_per_day
    often = {None: "", 1: " once daily", 2: " twice daily"}.get(times, f" {times} times daily")
    if schedule.as_needed:
        return " as needed" + (f", up to {times} times daily" if times else "")
    return often


def dosage(n: int, dose: float, unit: str, schedule: i.Schedule, route: str | None,
           start: datetime, end: datetime | None) -> dict[str, Any]:
    """One step of the course: the dose from ``start`` until the next change (or the stop)."""
    repeat: dict[str, Any] = {"boundsPeriod": period(start, end)}
    if schedule.times_per_day:
        repeat |= {"frequency": schedule.times_per_day, "period": 1, "periodUnit": "d"}
    out: dict[str, Any] = {
        "sequence": n, "text": f"{number(dose)} {unit}{_schedule_text(schedule)}", "timing": {"repeat": repeat},
        "doseAndRate": [{"doseQuantity": dose_quantity(dose, unit)}]}
    if schedule.as_needed:
        out["asNeededBoolean"] = True
    if route:
        out["route"] = {"text": route}
    return out


def dosages(course: Course) -> list[dict[str, Any]]:
    started = _started(course)
    steps: list[tuple[float, str, datetime]] = [(started.dose, started.unit, course.start.fact.occurred_at)]
    for s in sorted(course.adjustments, key=lambda s: (s.fact.occurred_at, s.fact.sequence)):
        body = s.fact.body
        assert isinstance(body, i.DoseAdjusted)
        steps.append((body.dose, body.unit, s.fact.occurred_at))
    stop = course.stop.fact.occurred_at if course.stop else None
    return [dosage(n, dose, unit, started.schedule, started.route, at,
                   steps[n][2] if n < len(steps) else stop)
            for n, (dose, unit, at) in enumerate(steps, start=1)]


def reason_codes(start: Source) -> list[dict[str, Any]]:
    """The coded indication (ICD-10; a v1 indication that was one is read as one, any other v1
    indication was free text and reads as none)."""
    body = start.fact.body
    assert isinstance(body, i.MedicationStarted)
    if body.indication is not None and body.indication.system == "ICD-10":
        return [concept(ICD10, body.indication.code)]
    return []


def medication_statement(patient_id: str, course: Course) -> Resource:
    started = _started(course)
    sources = [course.start, *course.adjustments, *([course.stop] if course.stop else [])]
    out = shell("MedicationStatement", statement_id(course), sources) | {
        "status": "stopped" if course.stop else "active",
        "medicationCodeableConcept": medication_concept(started),
        "subject": patient_ref(patient_id),
        "effectivePeriod": period(course.start.fact.occurred_at,
                                  course.stop.fact.occurred_at if course.stop else None),
        "dateAsserted": instant(course.start.fact.recorded_at),
        "dosage": dosages(course),
    }
    reasons = reason_codes(course.start)
    if reasons:
        out["reasonCode"] = reasons
    if course.stop is not None:
        stop = course.stop.fact.body
        assert isinstance(stop, i.MedicationDiscontinued)
        out["statusReason"] = [concept(DISCONTINUATION_REASON, stop.reason, text=stop.reason.replace("_", " "))]
    return out


def adverse_event(patient_id: str, course: Course, effect: Source) -> Resource:
    body = effect.fact.body
    assert isinstance(body, i.AdverseEffectReported)
    out = shell("AdverseEvent", adverse_event_id(effect), [effect]) | {
        "actuality": "actual",
        "subject": patient_ref(patient_id),
        "date": instant(effect.fact.occurred_at),
        "recordedDate": instant(effect.fact.recorded_at),
        "suspectEntity": [{"instance": ref("MedicationStatement", statement_id(course))}],
    }
    out["event"] = concept(ADVERSE_EFFECT, body.effect, ADVERSE_EFFECTS.get(body.effect))
    if body.severity in ("mild", "moderate", "severe"):
        out["severity"] = concept(ADVERSE_EVENT_SEVERITY, body.severity, body.severity.capitalize())
    return out
