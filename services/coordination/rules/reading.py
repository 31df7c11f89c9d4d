"""The one place that reads producers' payloads, by field name, into typed facts.

Field names follow the producers' event models (assessment, pharmacy, therapy and
coordination's ``domain/events.py``); those modules are not imported, since services do not
import each other. A payload of a known kind that lacks a field the rules need is skipped and
named in ``PatientFacts.unreadable`` rather than failing the whole patient's evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from . import facts as f
from .history import HistoryEvent


class _Unreadable(ValueError):
    pass


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise _Unreadable(name)
    return value


def _opt_text(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) and value else None


def _int(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unreadable(name)
    return value


def _time(payload: Mapping[str, Any], name: str) -> datetime | None:
    value = payload.get(name)
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.utcoffset() is None:
        raise _Unreadable(name)
    return moment


def _course_id(e: HistoryEvent) -> str:
    # The course's stream is the course; the payload's id is preferred when present.
    return _opt_text(e.payload, "medication_id") or e.stream_id


def _episode_id(e: HistoryEvent) -> str:
    return _opt_text(e.payload, "episode_id") or e.stream_id


class _Builder:
    """Collects facts in event order; remembers each episode's step for a change that omits it."""

    def __init__(self) -> None:
        self.out: dict[str, list[Any]] = {name: [] for name in _FIELDS}
        self.steps: dict[str, int] = {}

    def pharmacy(self, e: HistoryEvent) -> None:
        p, name = e.payload, e.event_name
        if name == "MedicationStarted":
            drug = p.get("drug")
            snap = p.get("formulary") or {}
            if not isinstance(drug, Mapping) or not isinstance(snap, Mapping):
                raise _Unreadable("drug")
            system = _text(drug, "system")
            code = _text(drug, "code").strip()
            atc = _opt_text(snap, "atc")
            self.out["courses"].append(f.CourseStarted(
                e.event_id, e.occurred_at, _course_id(e), f.DrugKey(system, code.upper() if system == "ATC" else code),
                atc=atc, therapeutic_class=_opt_text(snap, "therapeutic_class") or (atc[:5] if atc else None),
                opioid=snap.get("opioid") is True, benzodiazepine=snap.get("benzodiazepine") is True,
                serotonergic=snap.get("serotonergic") is True, qt_prolonging=snap.get("qt_prolonging") is True))
        elif name == "DoseAdjusted":
            self.out["dose_changes"].append(
                f.DoseChanged(e.event_id, e.occurred_at, _course_id(e), _text(p, "direction")))
        elif name == "MedicationDiscontinued":
            self.out["stops"].append(f.CourseStopped(e.event_id, e.occurred_at, _course_id(e)))
        elif name == "AdverseEffectReported":
            self.out["adverse_effects"].append(
                f.AdverseEffect(e.event_id, e.occurred_at, _course_id(e), _text(p, "severity")))

    def assessment(self, e: HistoryEvent) -> None:
        p = e.payload
        if e.event_name == "AssessmentRecorded":
            items = p.get("item_scores") or ()
            if not isinstance(items, Sequence) or not all(isinstance(i, int) for i in items):
                raise _Unreadable("item_scores")
            self.out["scores"].append(f.Score(e.event_id, e.occurred_at, _text(p, "instrument"), _int(p, "total"),
                                              tuple(items), p.get("safety_item_positive") is True))
        elif e.event_name == "LifeCircumstanceChanged":
            self.out["life_changes"].append(f.LifeChange(e.event_id, e.occurred_at, _text(p, "category"),
                                                         _text(p, "direction"), _text(p, "impact")))

    def therapy(self, e: HistoryEvent) -> None:
        p, name, episode = e.payload, e.event_name, _episode_id(e)
        if name == "TherapyEpisodeStarted":
            step = _int(p, "care_step")
            self.steps[episode] = step
            self.out["episodes"].append(f.EpisodeStarted(e.event_id, e.occurred_at, episode, step))
        elif name in _SESSION_OUTCOMES:
            outcome = _SESSION_OUTCOMES[name]
            if outcome == "cancelled":
                by = _text(p, "by")
                outcome = "cancelled_by_clinic" if by == "clinic" else "cancelled_by_patient"
            self.out["sessions"].append(
                f.SessionOutcome(e.event_id, e.occurred_at, episode, _text(p, "session_id"), outcome))  # type: ignore[arg-type]
        elif name == "CareStepChanged":
            to_step = _int(p, "to_step")
            from_step = p.get("from_step") if isinstance(p.get("from_step"), int) else self.steps.get(episode)
            self.steps[episode] = to_step
            self.out["step_changes"].append(f.StepChanged(e.event_id, e.occurred_at, episode, from_step, to_step))
        elif name == "ModalityChanged":
            self.out["modality_changes"].append(f.ModalityChanged(e.event_id, e.occurred_at, episode))
        elif name == "TherapyEpisodeEnded":
            self.out["episode_ends"].append(f.EpisodeEnded(e.event_id, e.occurred_at, episode))

    def coordination(self, e: HistoryEvent) -> None:
        fact = coordination_fact(e)
        if isinstance(fact, f.Escalation):
            self.out["escalations"].append(fact)
        elif isinstance(fact, f.Review):
            self.out["reviews"].append(fact)


def coordination_fact(e: HistoryEvent) -> f.Escalation | f.Review | None:
    """The team's decisions (coordination's ``domain/events.py``); adjust here if a name changes."""
    if e.event_name == "EscalationDecided":
        return f.Escalation(e.event_id, e.occurred_at, _time(e.payload, "due_by"))
    if e.event_name == "CarePlanReviewed":
        return f.Review(e.event_id, e.occurred_at, "care_plan_review")
    if e.event_name == "CaseConferenceHeld":
        return f.Review(e.event_id, e.occurred_at, "case_conference")
    return None


_SESSION_OUTCOMES = {"SessionCompleted": "completed", "SessionMissed": "missed", "SessionCancelled": "cancelled"}
_FIELDS = ("courses", "dose_changes", "stops", "adverse_effects", "scores", "life_changes", "reviews",
           "escalations", "episodes", "sessions", "step_changes", "modality_changes", "episode_ends")


def build_facts(patient_id: str, ordered: Sequence[HistoryEvent]) -> f.PatientFacts:
    """Facts of ``ordered`` (already in event-time order, see ``history.known_as_of``) in one pass."""
    builder = _Builder()
    readers: dict[str, Callable[[HistoryEvent], None]] = {
        "pharmacy": builder.pharmacy, "assessment": builder.assessment,
        "therapy": builder.therapy, "coordination": builder.coordination}
    unreadable: list[str] = []
    for event in ordered:
        reader = readers.get(event.service)
        if reader is None:
            continue
        try:
            reader(event)
        except (_Unreadable, ValueError, TypeError, AttributeError):
            unreadable.append(event.event_id)
    lists = {name: tuple(items) for name, items in builder.out.items()}
    return f.PatientFacts(patient_id=patient_id, unreadable=tuple(unreadable), **lists)


def patient_of(history: Sequence[HistoryEvent]) -> str | None:
    """The one patient the history is about (every payload names it); a mix is a caller's bug."""
    ids = {p for e in history if isinstance(p := e.payload.get("patient_id"), str)}
    if len(ids) > 1:
        raise ValueError(f"the history mixes {len(ids)} patients; evaluate one patient at a time")
    return next(iter(ids), None)
