"""The timeline's short human summary of an event, from coded fields only.

``describe(summary, fact)`` is pure: it reads the event and the patient's summary *before*
the event (for what the event itself does not say: the drug of a dose change, the previous
score of an instrument, the modality of a session). Each of those comes from the event's
own stream, which Kafka keeps in order, so the text is the same in every replay. No name,
birth date or note can appear: the inputs hold none.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import assert_never

from services.coordination.domain import CarePlanReviewed, CaseConferenceHeld, EscalationDecided
from services.coordination.projection import inputs as i
from services.coordination.projection.facts import Fact
from services.coordination.projection.fold import daily_dose
from services.coordination.projection.state import Medication, PatientSummary

ACRONYMS = {"cbt": "CBT", "act": "ACT"}
UNKNOWN_DRUG = "unknown medication"
OTHER = "other"  # a code that says nothing more (and every upcast v1 reason): left unsaid


def describe(s: PatientSummary, f: Fact) -> str:
    body = f.body
    match body:
        case i.PatientEnrolled():
            return f"enrolled (age {body.age_band})" if body.age_band else "enrolled"
        case i.PatientPreferencesUpdated():
            return "preferences updated" + _preferences(body.preferences)
        case i.PatientIdentityErased():
            return "identity erased"
        case i.AssessmentRecorded():
            return _assessment(s, f, body)
        case i.LifeCircumstanceChanged():
            return f"{words(body.category)} {words(body.direction)} ({words(body.impact)} impact)"
        case i.MedicationStarted():
            return _started(body)
        case i.DoseAdjusted():
            return _adjusted(s.medications.get(body.medication_id), body)
        case i.MedicationDiscontinued():
            return f"{_drug(s, body.medication_id)} stopped{_coded(body.reason)}"
        case i.AdverseEffectReported():
            effect = "" if body.effect == OTHER else f": {words(body.effect)}"
            return f"adverse effect of {_drug(s, body.medication_id)} reported{effect} ({words(body.severity)})"
        case i.TherapyEpisodeStarted():
            setting = f" ({words(body.setting)})" if body.setting else ""
            return f"{modality(body.modality)} episode started at care step {body.care_step}{setting}"
        case i.SessionScheduled():
            when = f" for {_date(body.scheduled_at)}" if body.scheduled_at else ""
            return f"{_modality_of(s, f)} session scheduled{when}"
        case i.SessionCompleted():
            return f"{_modality_of(s, f)} session completed ({body.duration_min} min)"
        case i.SessionMissed():
            return f"{_modality_of(s, f)} session missed"
        case i.SessionCancelled():
            return f"{_modality_of(s, f)} session cancelled by the {words(body.by)}"
        case i.ModalityChanged():
            before = body.from_modality or _episode_modality(s, f)
            start = f"{modality(before)} → " if before else ""
            return f"modality {start}{modality(body.to_modality)}{_reason(body.reason)}"
        case i.CareStepChanged():
            episode = s.episodes.get(f.stream_id)
            step = body.from_step if body.from_step is not None else (episode.care_step if episode else None)
            start = f"{step} → " if step is not None else ""
            return f"care step {start}{body.to_step}{_reason(body.reason)}"
        case i.TherapyEpisodeEnded():
            return f"{_modality_of(s, f)} episode ended{_reason(body.reason)}"
        case EscalationDecided():
            target = "pharmacotherapy and psychotherapy" if body.target == "both" else body.target
            return f"escalation of {target} decided ({words(body.reason)}), due {_date(body.due_by)}"
        case CarePlanReviewed():
            goals = f"; goals: {', '.join(words(g) for g in body.goals)}" if body.goals else ""
            return f"care plan reviewed ({words(body.reason)}){goals}"
        case CaseConferenceHeld():
            people = f"{len(body.attendees)} attendee{'s' if len(body.attendees) != 1 else ''}"
            return f"case conference, {people}: {', '.join(words(d) for d in body.decisions)}"
        case i.OtherEvent():
            return f"{words(_snake(f.event_name))} ({f.service})"
        case _:
            assert_never(body)


def words(code: str) -> str:
    """``non_response`` → ``non response``."""
    return code.replace("_", " ")


def modality(code: str) -> str:
    return ACRONYMS.get(code, words(code))


def number(value: float) -> str:
    """50.0 → 50, 12.5 → 12.5: doses read as a prescriber writes them."""
    return f"{value:g}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _date(moment: datetime) -> str:
    return moment.date().isoformat()


def _reason(code: str | None) -> str:
    return f" ({words(code)})" if code else ""


def _coded(code: str | None) -> str:
    """A pharmacy reason in brackets, unless it is ``other`` (the words are in pharmacy's note)."""
    return _reason(code) if code != OTHER else ""


def _preferences(p: i.Preferences) -> str:
    parts = (["non-pharmacological first"] if p.prefers_non_pharmacological_first else []) + \
        ([f"language {p.language}"] if p.language else [])
    return f": {', '.join(parts)}" if parts else ""


def _assessment(s: PatientSummary, f: Fact, body: i.AssessmentRecorded) -> str:
    text = f"{body.instrument} {body.total} ({words(body.band)})"
    earlier = [x for x in s.scores.get(body.instrument, ()) if (x.at, x.assessment_id) < (
        f.occurred_at, body.assessment_id)]
    if earlier:
        text += f", was {earlier[-1].total}"
    if body.safety_item_positive:
        text += "; safety item positive"
    return text


def _schedule(schedule: i.Schedule) -> str:
    times = schedule.times_per_day
    often = {None: "", 1: " once daily", 2: " twice daily"}.get(times, f" {times} times daily")
    if schedule.as_needed:
        return f" as needed{f', up to {times} times daily' if times else ''}"
    return often


def _started(body: i.MedicationStarted) -> str:
    text = f"{body.drug.name} started, {number(body.dose)} {body.unit}{_schedule(body.schedule)}"
    if body.schedule.times_per_day:
        most = "up to " if body.schedule.as_needed else ""
        text += f" ({most}{number(daily_dose(body.dose, body.schedule))} {body.unit}/day)"
    if body.indication:
        text += f" for {body.indication.system} {body.indication.code}"
    if body.override_reason:
        text += f"; above the maximum ({words(body.override_reason)})"
    return text


def _adjusted(course: Medication | None, body: i.DoseAdjusted) -> str:
    why = _coded(body.reason) + (f"; above the maximum ({words(body.override_reason)})"
                                 if body.override_reason else "")
    if course is None:  # the course's start never reached coordination
        return f"{UNKNOWN_DRUG} {number(body.previous_dose)} → {number(body.dose)} {body.unit}{why}"
    before = daily_dose(body.previous_dose, course.schedule)
    after = body.daily_dose if body.daily_dose is not None else daily_dose(body.dose, course.schedule)
    if course.unit == body.unit:
        return f"{course.drug.name} {number(before)} → {number(after)} {body.unit}/day{why}"
    return f"{course.drug.name} {number(before)} {course.unit}/day → {number(after)} {body.unit}/day{why}"


def _drug(s: PatientSummary, medication_id: str) -> str:
    course = s.medications.get(medication_id)
    return course.drug.name if course else UNKNOWN_DRUG


def _episode_modality(s: PatientSummary, f: Fact) -> str | None:
    episode = s.episodes.get(f.stream_id)
    return episode.modality if episode else None


def _modality_of(s: PatientSummary, f: Fact) -> str:
    code = _episode_modality(s, f)
    return modality(code) if code else "therapy"
