"""Envelopes and facts of every kind coordination reads, shaped as the services publish them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.coordination.handlers import registry
from services.coordination.projection.facts import Fact, read
from shared.envelope import Envelope, event_type

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATIENT = "patient-1"


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def envelope(service: str, name: str, payload: dict[str, Any], *, at: datetime = T0, stream: str = "s-1",
             seq: int = 1, patient: str = PATIENT, clinic: str = "clinic-a", recorded_at: datetime | None = None,
             version: int = 1) -> Envelope:
    return Envelope(id=uuid.uuid4(), source=f"/carecoord/{service}", type=event_type(service, name, version),
                    subject=patient, time=at, clinic_id=clinic, stream_id=stream,
                    payload={"patient_id": patient, "occurred_at": at.isoformat(), **payload},
                    stream_version=seq, recorded_at=recorded_at or at + timedelta(minutes=5))


def fact(service: str, name: str, payload: dict[str, Any], **kw: Any) -> Fact:
    return read(envelope(service, name, payload, **kw), registry())


SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
SNAPSHOT = {"version": "2026.1", "known": True, "atc": "N06AB06", "therapeutic_class": "N06AB",
            "opioid": False, "benzodiazepine": False, "serotonergic": True, "qt_prolonging": False,
            "cns_depressant": False, "max_daily_dose": {"value": 200, "unit": "mg"}}


def enrolled(**kw: Any) -> Fact:
    return fact("assessment", "PatientEnrolled", {"clinic_id": "clinic-a", "age_band": "40-49",
                                                   "preferences": {"language": None,
                                                                   "prefers_non_pharmacological_first": False}},
                stream=f"patient-{kw.get('patient', PATIENT)}", **kw)


def assessed(instrument: str, total: int, band: str, *, aid: str | None = None, safety: bool = False,
             **kw: Any) -> Fact:
    return fact("assessment", "AssessmentRecorded", {
        "assessment_id": aid or str(uuid.uuid4()), "instrument": instrument, "item_scores": [1] * 9,
        "total": total, "band": band, "max_total": 27, "loinc": "44261-6", "safety_item_positive": safety},
        stream=f"patient-{kw.get('patient', PATIENT)}", **kw)


def life_change(category: str, direction: str, impact: str, **kw: Any) -> Fact:
    return fact("assessment", "LifeCircumstanceChanged", {
        "life_event_id": str(uuid.uuid4()), "category": category, "direction": direction, "impact": impact},
        stream=f"patient-{kw.get('patient', PATIENT)}", **kw)


def med_started(mid: str = "m-1", dose: float = 50, times: int | None = 1, as_needed: bool = False,
                drug: dict[str, str] | None = None, snapshot: dict[str, Any] | None = None,
                indication: dict[str, str] | str | None = None, **kw: Any) -> Fact:
    """A v2 start (codes only; the drug named as the formulary names it)."""
    return fact("pharmacy", "MedicationStarted", {
        "medication_id": mid, "drug": drug or SERTRALINE, "dose": dose, "unit": "mg",
        "schedule": {"times_per_day": times, "as_needed": as_needed}, "route": "oral",
        "indication": indication, "prescriber_id": "staff-1",
        "formulary": snapshot or SNAPSHOT, "override_reason": None}, stream=f"medication-{mid}",
        **({"version": 2} | kw))


def dose_adjusted(mid: str, previous: float, dose: float, daily: float, direction: str = "increase",
                  reason: str = "other", **kw: Any) -> Fact:
    """A v2 dose change; ``other`` (the default) adds nothing to the timeline's text."""
    return fact("pharmacy", "DoseAdjusted", {
        "medication_id": mid, "previous_dose": previous, "dose": dose, "unit": "mg", "direction": direction,
        "reason": reason, "prescriber_id": "staff-1", "daily_dose": daily, "override_reason": None},
        stream=f"medication-{mid}", **({"version": 2} | kw))


def therapy(name: str, payload: dict[str, Any], episode: str = "e-1", **kw: Any) -> Fact:
    return fact("therapy", name, {"episode_id": episode, **payload}, stream=f"episode-{episode}", **kw)


def escalation(target: str = "pharmacotherapy", reason: str = "non_response", due_by: datetime | None = None,
               eid: str = "esc-1", **kw: Any) -> Fact:
    at = kw.get("at", T0)
    return fact("coordination", "EscalationDecided", {
        "escalation_id": eid, "target": target, "reason": reason,
        "due_by": (due_by or at + timedelta(days=14)).isoformat(), "decided_by": "staff-1"},
        stream=f"care-plan-{kw.get('patient', PATIENT)}", **kw)


def history_of_all_kinds() -> list[Fact]:
    """One event of every kind coordination reads."""
    return [
        enrolled(at=day(0)),
        assessed("PHQ-9", 18, "moderately_severe", at=day(1), seq=2),
        life_change("housing", "worsened", "high", at=day(2), seq=3),
        fact("assessment", "PatientPreferencesUpdated", {"preferences": {"language": "de"}}, stream="patient-x",
             seq=4),
        med_started("m-1", at=day(3)),
        dose_adjusted("m-1", 50, 100, 100, at=day(10), seq=2),
        fact("pharmacy", "AdverseEffectReported", {"medication_id": "m-1", "severity": "mild"},
             stream="medication-m-1", seq=3, at=day(11)),
        fact("pharmacy", "MedicationDiscontinued", {"medication_id": "m-1"}, stream="medication-m-1", seq=4,
             at=day(12)),
        therapy("TherapyEpisodeStarted", {"modality": "cbt", "care_step": 2}, at=day(4)),
        therapy("SessionScheduled", {"session_id": "s1", "scheduled_at": day(5).isoformat()}, seq=2, at=day(4)),
        therapy("SessionCompleted", {"session_id": "s1", "duration_min": 50}, seq=3, at=day(5)),
        therapy("SessionMissed", {"session_id": "s2"}, seq=4, at=day(12)),
        therapy("SessionCancelled", {"session_id": "s3", "by": "clinic"}, seq=5, at=day(19)),
        therapy("ModalityChanged", {"from_modality": "cbt", "to_modality": "act", "reason": "other"}, seq=6,
                at=day(20)),
        therapy("CareStepChanged", {"from_step": 2, "to_step": 3, "reason": "non_response"}, seq=7, at=day(21)),
        therapy("TherapyEpisodeEnded", {"reason": "remission"}, seq=8, at=day(60)),
        escalation(at=day(15)),
        fact("coordination", "CarePlanReviewed", {"review_id": "r1", "reason": "scheduled", "goals": [],
                                                  "reviewed_by": "s"}, stream="care-plan-x", seq=2, at=day(16)),
        fact("coordination", "CaseConferenceHeld", {"conference_id": "c1", "attendees": ["a"],
                                                    "decisions": ["continue_plan"], "recorded_by": "s"},
             stream="care-plan-x", seq=3, at=day(17)),
        fact("assessment", "PatientIdentityErased", {}, stream="patient-x", seq=5, at=day(61)),
    ]
