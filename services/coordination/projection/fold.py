"""Folding one event into a patient's summary: a pure function, no I/O, no clock.

``fold(summary, fact)`` returns the new summary. Parts that several streams touch are kept
sorted by clinical time or as maxima, so any interleaving of the topics that keeps each
stream's order gives the same summary (a unit test folds permutations to show it).
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any, assert_never

from services.coordination.domain import CarePlanReviewed, CaseConferenceHeld, EscalationDecided
from services.coordination.projection import inputs as i
from services.coordination.projection.facts import Fact
from services.coordination.projection.state import (
    Conference,
    Episode,
    Escalation,
    LifeChange,
    Medication,
    PatientSummary,
    Review,
    Score,
)

RISK_PROPERTIES = ("opioid", "benzodiazepine", "serotonergic", "qt_prolonging", "cns_depressant")


def daily_dose(dose: float, schedule: i.Schedule) -> float:
    """Dose × doses a day (the most allowed when as needed; one without a frequency), as the
    pharmacy computes it for its own events."""
    return dose * (schedule.times_per_day or 1)


def fold(summary: PatientSummary, fact: Fact) -> PatientSummary:
    changes = _changes(summary, fact)
    changes["event_count"] = summary.event_count + 1
    changes["last_event_at"] = _later(summary.last_event_at, fact.occurred_at)
    return summary.model_copy(update=changes)


def _changes(s: PatientSummary, f: Fact) -> dict[str, Any]:
    body = f.body
    match body:
        case i.PatientEnrolled():
            return {"enrolled_at": f.occurred_at, "age_band": body.age_band, "preferences": body.preferences,
                    "clinic_id": f.clinic_id}
        case i.PatientPreferencesUpdated():
            return {"preferences": body.preferences}
        case i.PatientIdentityErased():
            return {"identity_erased": True}
        case i.AssessmentRecorded():
            score = Score(assessment_id=body.assessment_id, total=body.total, band=body.band,
                          max_total=body.max_total, at=f.occurred_at,
                          safety_item_positive=body.safety_item_positive)
            scores = dict(s.scores)
            scores[body.instrument] = _insert(scores.get(body.instrument, ()), score,
                                              lambda x: (x.at, x.assessment_id))
            return {"scores": scores}
        case i.LifeCircumstanceChanged():
            change = LifeChange(life_event_id=body.life_event_id, category=body.category,
                                direction=body.direction, impact=body.impact, at=f.occurred_at)
            return {"life_changes": _insert(s.life_changes, change, lambda x: (x.at, x.life_event_id))}
        case i.MedicationStarted():
            return {"medications": {**s.medications, body.medication_id: _started(body, f.occurred_at)},
                    "last_enacted_at": _later(s.last_enacted_at, f.occurred_at)}
        case i.DoseAdjusted():
            return {"medications": _course(s, body.medication_id, lambda m: m.model_copy(update={
                        "dose": body.dose, "unit": body.unit, "last_changed_at": f.occurred_at,
                        "daily_dose": body.daily_dose if body.daily_dose is not None
                        else daily_dose(body.dose, m.schedule)})),
                    "last_enacted_at": _later(s.last_enacted_at, f.occurred_at)}
        case i.MedicationDiscontinued():
            return {"medications": _course(s, body.medication_id, lambda m: m.model_copy(update={
                "status": "discontinued", "stopped_at": f.occurred_at}))}
        case i.AdverseEffectReported():
            return {}
        case i.TherapyEpisodeStarted():
            episode = _episode(s, f).model_copy(update={
                "episode_id": body.episode_id or f.stream_id, "modality": body.modality,
                "care_step": body.care_step, "setting": body.setting, "started_at": f.occurred_at})
            return {"episodes": {**s.episodes, f.stream_id: episode}}
        case i.SessionScheduled():
            return _session(s, f, "scheduled")
        case i.SessionCompleted():
            return _session(s, f, "completed", _later(_episode(s, f).last_completed_at, f.occurred_at))
        case i.SessionMissed():
            return _session(s, f, "missed")
        case i.SessionCancelled():
            return _session(s, f, "cancelled_by_patient" if body.by == "patient" else "cancelled_by_clinic")
        case i.ModalityChanged():
            episode = _episode(s, f).model_copy(update={"modality": body.to_modality})
            return {"episodes": {**s.episodes, f.stream_id: episode},
                    "last_enacted_at": _later(s.last_enacted_at, f.occurred_at)}
        case i.CareStepChanged():
            ep = _episode(s, f)
            before = body.from_step if body.from_step is not None else ep.care_step
            changes: dict[str, Any] = {"episodes": {**s.episodes, f.stream_id: ep.model_copy(
                update={"care_step": body.to_step})}}
            if before is None or body.to_step > before:  # only a step up enacts an escalation
                changes["last_enacted_at"] = _later(s.last_enacted_at, f.occurred_at)
            return changes
        case i.TherapyEpisodeEnded():
            episode = _episode(s, f).model_copy(update={"status": "ended", "ended_at": f.occurred_at,
                                                        "end_reason": body.reason})
            return {"episodes": {**s.episodes, f.stream_id: episode}}
        case EscalationDecided():
            escalation = Escalation(escalation_id=body.escalation_id, target=body.target, reason=body.reason,
                                    decided_at=f.occurred_at, due_by=body.due_by)
            return {"escalations": {**s.escalations, body.escalation_id: escalation}}
        case CarePlanReviewed():
            review = Review(review_id=body.review_id, reason=body.reason, goals=body.goals, at=f.occurred_at)
            latest = s.last_review
            if latest is None or (review.at, review.review_id) > (latest.at, latest.review_id):
                return {"last_review": review}
            return {}
        case CaseConferenceHeld():
            conference = Conference(conference_id=body.conference_id, attendees=len(body.attendees),
                                    decisions=body.decisions, at=f.occurred_at)
            last = s.last_conference
            if last is None or (conference.at, conference.conference_id) > (last.at, last.conference_id):
                return {"last_conference": conference}
            return {}
        case i.OtherEvent():
            return {}
        case _:
            assert_never(body)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _insert(items: tuple[Any, ...], item: Any, key: Any) -> tuple[Any, ...]:
    """``items`` with ``item`` placed by ``key`` (clinical time, then id)."""
    out = list(items)
    bisect.insort(out, item, key=key)
    return tuple(out)


def _started(body: i.MedicationStarted, at: datetime) -> Medication:
    snapshot = body.formulary
    return Medication(
        medication_id=body.medication_id, drug=body.drug, atc=snapshot.atc,
        therapeutic_class=snapshot.therapeutic_class,
        risk_properties=tuple(p for p in RISK_PROPERTIES if getattr(snapshot, p)),
        dose=body.dose, unit=body.unit, schedule=body.schedule,
        daily_dose=daily_dose(body.dose, body.schedule), route=body.route,
        started_at=at, last_changed_at=at)


def _course(s: PatientSummary, medication_id: str, change: Any) -> dict[str, Medication]:
    """The medications with one course changed; a course whose start never arrived (it
    was dead-lettered) stays unknown rather than being invented without a drug."""
    current = s.medications.get(medication_id)
    if current is None:
        return s.medications
    return {**s.medications, medication_id: change(current)}


def _episode(s: PatientSummary, f: Fact) -> Episode:
    return s.episodes.get(f.stream_id) or Episode(episode_id=f.stream_id)


def _session(s: PatientSummary, f: Fact, counter: str, last_completed_at: datetime | None = None
             ) -> dict[str, Any]:
    ep = _episode(s, f)
    update: dict[str, Any] = {counter: getattr(ep, counter) + 1}
    if last_completed_at is not None:
        update["last_completed_at"] = last_completed_at
    return {"episodes": {**s.episodes, f.stream_id: ep.model_copy(update=update)}}
