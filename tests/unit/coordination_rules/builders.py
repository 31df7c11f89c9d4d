"""HistoryEvents shaped as the producers publish them (payload = the event model dumped as JSON)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.coordination.rules import ClinicRules, Flag, HistoryEvent, evaluate, load_config, parse_config
from services.coordination.rules.config import packaged_text

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATIENT = "patient-1"
LAG = timedelta(minutes=5)  # recorded this long after it occurred unless a test says otherwise

_ids = itertools.count(1)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def defaults() -> ClinicRules:
    return load_config().for_clinic("clinic-a")


def clinic(overrides: str, clinic_id: str = "clinic-b") -> ClinicRules:
    """The packaged defaults with ``overrides`` (TOML tables) appended, as seen by ``clinic_id``."""
    return parse_config(packaged_text() + "\n" + overrides).for_clinic(clinic_id)


def flags(history: list[HistoryEvent], as_of: datetime, rule: str | None = None,
          config: ClinicRules | None = None) -> list[Flag]:
    found = evaluate(history, as_of, config or defaults())
    return [f for f in found if rule is None or f.rule_id == rule]


def event(service: str, name: str, payload: dict[str, Any], at: datetime, *, recorded: datetime | None = None,
          stream: str = "stream-1", patient: str = PATIENT) -> HistoryEvent:
    return HistoryEvent(event_id=str(uuid.UUID(int=next(_ids))), service=service, event_name=name,
                        occurred_at=at, recorded_at=recorded or at + LAG, stream_id=stream,
                        payload={"patient_id": patient, "occurred_at": at.isoformat(), **payload})


# --------------------------------------------------------------------------- pharmacy


@dataclass(frozen=True)
class Drug:
    code: str
    atc: str | None = None
    opioid: bool = False
    benzodiazepine: bool = False
    serotonergic: bool = False
    qt_prolonging: bool = False
    system: str = "RxNorm"


SERTRALINE = Drug("36437", "N06AB06", serotonergic=True)
CITALOPRAM = Drug("2556", "N06AB04", serotonergic=True, qt_prolonging=True)
MIRTAZAPINE = Drug("15996", "N06AX11", serotonergic=True)
DIAZEPAM = Drug("3322", "N05BA01", benzodiazepine=True)
OXYCODONE = Drug("7804", "N02AA05", opioid=True)
TRAMADOL = Drug("10689", "N02AX02", opioid=True, serotonergic=True)
HALOPERIDOL = Drug("5093", "N05AD01", qt_prolonging=True)
PARACETAMOL = Drug("161", "N02BE01")
IBUPROFEN = Drug("5640", "M01AE01")
PREGABALIN = Drug("187832", "N03AX16")
QUETIAPINE = Drug("51272", "N05AH04")


def unknown(code: str) -> Drug:
    """A drug the formulary does not know: an RxNorm code, no class, no flags."""
    return Drug(code)


def started(drug: Drug, at: datetime, *, course: str | None = None, **kw: Any) -> HistoryEvent:
    course = course or f"course-{drug.code}"
    snapshot = {"version": "2026.1", "known": drug.atc is not None, "atc": drug.atc,
                "therapeutic_class": drug.atc[:5] if drug.atc else None, "opioid": drug.opioid,
                "benzodiazepine": drug.benzodiazepine, "serotonergic": drug.serotonergic,
                "qt_prolonging": drug.qt_prolonging, "cns_depressant": False, "max_daily_dose": None}
    return event("pharmacy", "MedicationStarted", {
        "medication_id": course, "drug": {"code": drug.code, "system": drug.system, "name": "Drugname Secret"},
        "dose": 50.0, "unit": "mg", "schedule": {"times_per_day": 1, "as_needed": False}, "route": "oral",
        "indication": "free text indication Jane Doe", "prescriber_id": "staff-1", "formulary": snapshot,
        "override_reason": None}, at, stream=course, **kw)


def adjusted(course: str, at: datetime, direction: str = "increase", **kw: Any) -> HistoryEvent:
    return event("pharmacy", "DoseAdjusted", {
        "medication_id": course, "previous_dose": 50.0, "dose": 100.0, "unit": "mg", "direction": direction,
        "reason": "free text reason", "prescriber_id": "staff-1", "daily_dose": 100.0, "override_reason": None},
        at, stream=course, **kw)


def stopped(course: str, at: datetime, **kw: Any) -> HistoryEvent:
    return event("pharmacy", "MedicationDiscontinued", {
        "medication_id": course, "reason": "free text reason", "prescriber_id": "staff-1"}, at, stream=course, **kw)


def adverse(course: str, at: datetime, severity: str = "moderate", **kw: Any) -> HistoryEvent:
    return event("pharmacy", "AdverseEffectReported", {
        "medication_id": course, "effect": "nausea told by Jane Doe", "severity": severity,
        "reporter_id": "staff-1"}, at, stream=course, **kw)


# --------------------------------------------------------------------------- assessment

_ITEMS = {"PHQ-9": 9, "GAD-7": 7, "PHQ-15": 15, "ISI": 7}


def scored(instrument: str, total: int, at: datetime, *, item9: int = 0, **kw: Any) -> HistoryEvent:
    count = _ITEMS.get(instrument, 1)
    items = [0] * count
    rest = total - (item9 if instrument == "PHQ-9" else 0)
    for i in range(count):  # spread the total over the items, item 9 of a PHQ-9 set apart
        if instrument == "PHQ-9" and i == 8:
            continue
        items[i] = min(rest, 3 if instrument != "PHQ-15" else 2)
        rest -= items[i]
    if instrument == "PHQ-9":
        items[8] = item9
    return event("assessment", "AssessmentRecorded", {
        "assessment_id": str(uuid.UUID(int=next(_ids))), "instrument": instrument, "item_scores": items,
        "total": total, "band": "moderate", "max_total": 27, "loinc": None,
        "safety_item_positive": instrument == "PHQ-9" and item9 > 0}, at, stream=f"patient-{PATIENT}", **kw)


def life_change(at: datetime, direction: str = "worsened", impact: str = "high", category: str = "housing",
                **kw: Any) -> HistoryEvent:
    return event("assessment", "LifeCircumstanceChanged", {
        "life_event_id": str(uuid.UUID(int=next(_ids))), "category": category, "direction": direction,
        "impact": impact}, at, stream=f"patient-{PATIENT}", **kw)


# --------------------------------------------------------------------------- coordination


def escalated(at: datetime, due_by: datetime | None = None, **kw: Any) -> HistoryEvent:
    return event("coordination", "EscalationDecided", {
        "escalation_id": str(uuid.UUID(int=next(_ids))), "target": "pharmacotherapy", "reason": "non_response",
        "due_by": (due_by or at + timedelta(days=14)).isoformat(), "decided_by": "staff-2"},
        at, stream=f"care-plan-{PATIENT}", **kw)


def reviewed(at: datetime, **kw: Any) -> HistoryEvent:
    return event("coordination", "CarePlanReviewed", {
        "review_id": str(uuid.UUID(int=next(_ids))), "reason": "life_change", "goals": [], "reviewed_by": "staff-2"},
        at, stream=f"care-plan-{PATIENT}", **kw)


def conference(at: datetime, **kw: Any) -> HistoryEvent:
    return event("coordination", "CaseConferenceHeld", {
        "conference_id": str(uuid.UUID(int=next(_ids))), "attendees": ["staff-1", "staff-2"],
        "decisions": ["continue_plan"], "recorded_by": "staff-2"}, at, stream=f"care-plan-{PATIENT}", **kw)


# --------------------------------------------------------------------------- therapy


def _therapy(name: str, payload: dict[str, Any], at: datetime, episode: str, **kw: Any) -> HistoryEvent:
    return event("therapy", name, {"episode_id": episode, **payload}, at, stream=f"episode-{episode}", **kw)


def episode_started(at: datetime, step: int = 1, episode: str = "ep-1", **kw: Any) -> HistoryEvent:
    return _therapy("TherapyEpisodeStarted", {"modality": "cbt", "care_step": step, "therapist_id": "staff-3",
                                              "setting": "individual"}, at, episode, **kw)


def completed(at: datetime, session: str | None = None, episode: str = "ep-1", **kw: Any) -> HistoryEvent:
    return _therapy("SessionCompleted", {"session_id": session or f"s-{at.isoformat()}", "duration_min": 50,
                                         "techniques": [], "homework": []}, at, episode, **kw)


def missed(at: datetime, session: str | None = None, episode: str = "ep-1", **kw: Any) -> HistoryEvent:
    return _therapy("SessionMissed", {"session_id": session or f"s-{at.isoformat()}"}, at, episode, **kw)


def cancelled(at: datetime, by: str, session: str | None = None, episode: str = "ep-1", **kw: Any) -> HistoryEvent:
    return _therapy("SessionCancelled", {"session_id": session or f"s-{at.isoformat()}", "by": by},
                    at, episode, **kw)


def step_changed(at: datetime, from_step: int, to_step: int, episode: str = "ep-1", **kw: Any) -> HistoryEvent:
    return _therapy("CareStepChanged", {"from_step": from_step, "to_step": to_step, "reason": "non_response"},
                    at, episode, **kw)


def modality_changed(at: datetime, episode: str = "ep-1", **kw: Any) -> HistoryEvent:
    return _therapy("ModalityChanged", {"from_modality": "cbt", "to_modality": "act", "reason": "non_response"},
                    at, episode, **kw)


def episode_ended(at: datetime, episode: str = "ep-1", **kw: Any) -> HistoryEvent:
    return _therapy("TherapyEpisodeEnded", {"reason": "remission"}, at, episode, **kw)
