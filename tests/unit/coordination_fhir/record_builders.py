"""A hand-built patient record: every kind of event the FHIR export maps, as the services
publish them, and flags as coordination stores them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.coordination.fhir.record import Source
from services.coordination.flagging.model import Acknowledgement, StoredFlag
from services.coordination.handlers import registry
from services.coordination.projection.facts import read
from tests.unit.coordination.builders import PATIENT, SNAPSHOT, T0, envelope

OXYCODONE = {"code": "7804", "system": "RxNorm", "name": "oxycodone"}
DIAZEPAM = {"code": "N05BA01", "system": "ATC", "name": "diazepam"}
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
FREE_TEXT = ("divorce from Erika", "Mr Smith asked", "nausea after the party", "moved back to Hamburg",
             "Erika's pills")
"""Words a v1 (free-text) pharmacy event could carry: :meth:`Chart.legacy_course` writes them."""


def day(n: float, hour: int = 9) -> datetime:
    return T0 + timedelta(days=n, hours=hour - 9)


@dataclass
class Chart:
    """Sources in the order they were written; ``seq`` per stream."""

    sources: list[Source] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)

    def add(self, service: str, name: str, stream: str, at: datetime, payload: dict[str, Any],
            actor: str | None = "staff-1", version: int = 1) -> Source:
        self.versions[stream] = self.versions.get(stream, 0) + 1
        env = envelope(service, name, payload, at=at, stream=stream, seq=self.versions[stream], version=version)
        source = Source(read(env, registry()), actor, dict(env.payload))
        self.sources.append(source)
        return source

    def enrol(self) -> Source:
        return self.add("assessment", "PatientEnrolled", f"patient-{PATIENT}", day(0), {
            "clinic_id": "clinic-a", "age_band": "40-49",
            "preferences": {"language": None, "prefers_non_pharmacological_first": False}})

    def score(self, instrument: str, items: list[int], band: str, at: datetime) -> Source:
        return self.add("assessment", "AssessmentRecorded", f"patient-{PATIENT}", at, {
            "assessment_id": str(uuid.uuid4()), "instrument": instrument, "item_scores": items,
            "total": sum(items), "band": band, "max_total": 27, "loinc": None, "safety_item_positive": False},
                        actor="assessor-7")

    def start(self, mid: str, drug: dict[str, str], dose: float, at: datetime, *, indication: str | None = None,
              atc: str | None = None, as_needed: bool = False) -> Source:
        return self.add("pharmacy", "MedicationStarted", f"medication-{mid}", at, {
            "medication_id": mid, "drug": drug, "dose": dose, "unit": "mg",
            "schedule": {"times_per_day": 2, "as_needed": as_needed}, "route": "oral",
            "indication": {"system": "ICD-10", "code": indication} if indication else None,
            "prescriber_id": "staff-1", "formulary": SNAPSHOT | {"atc": atc}, "override_reason": None}, version=2)

    def adjust(self, mid: str, previous: float, dose: float, at: datetime) -> Source:
        return self.add("pharmacy", "DoseAdjusted", f"medication-{mid}", at, {
            "medication_id": mid, "previous_dose": previous, "dose": dose, "unit": "mg",
            "direction": "increase" if dose > previous else "decrease", "reason": "insufficient_response",
            "prescriber_id": "staff-1", "daily_dose": dose * 2, "override_reason": None}, version=2)

    def effect(self, mid: str, severity: str, at: datetime, effect: str = "nausea") -> Source:
        return self.add("pharmacy", "AdverseEffectReported", f"medication-{mid}", at, {
            "medication_id": mid, "effect": effect, "severity": severity,
            "reporter_id": "staff-2"}, actor="staff-2", version=2)

    def stop(self, mid: str, at: datetime) -> Source:
        return self.add("pharmacy", "MedicationDiscontinued", f"medication-{mid}", at, {
            "medication_id": mid, "reason": "adverse_effect", "prescriber_id": "staff-1"}, version=2)

    def legacy_course(self, mid: str, at: datetime) -> None:
        """A course as v1 recorded it: every reason, effect, indication and the drug's name the
        client's own words (:data:`FREE_TEXT`)."""
        stream = f"medication-{mid}"
        self.add("pharmacy", "MedicationStarted", stream, at, {
            "medication_id": mid, "drug": {"code": "4493", "system": "RxNorm", "name": "Erika's pills"},
            "dose": 20, "unit": "mg", "schedule": {"times_per_day": 1, "as_needed": False}, "route": "oral",
            "indication": "low mood since the divorce from Erika", "prescriber_id": "staff-1",
            "formulary": SNAPSHOT | {"atc": "N06AB03"}, "override_reason": None})
        self.add("pharmacy", "DoseAdjusted", stream, at + timedelta(days=7), {
            "medication_id": mid, "previous_dose": 20, "dose": 40, "unit": "mg", "direction": "increase",
            "reason": "Mr Smith asked for more", "prescriber_id": "staff-1", "daily_dose": 40})
        self.add("pharmacy", "AdverseEffectReported", stream, at + timedelta(days=8), {
            "medication_id": mid, "effect": "nausea after the party", "severity": "mild", "reporter_id": "staff-2"},
                 actor="staff-2")
        self.add("pharmacy", "MedicationDiscontinued", stream, at + timedelta(days=9), {
            "medication_id": mid, "reason": "moved back to Hamburg", "prescriber_id": "staff-1"})

    def therapy(self, name: str, at: datetime, episode: str = "e-1", **payload: Any) -> Source:
        return self.add("therapy", name, f"episode-{episode}", at, {"episode_id": episode, **payload},
                        actor="therapist-3")


def stored_flag(rule_id: str, evidence: list[Source], raised_at: datetime, *, severity: str = "warning",
                resolved_at: datetime | None = None, withdrawn: bool = False,
                acknowledged_by: str | None = None) -> StoredFlag:
    ack = Acknowledgement("action_planned", acknowledged_by, raised_at + timedelta(hours=2)) if acknowledged_by \
        else None
    return StoredFlag(
        flag_id=str(uuid.uuid4()), rule_id=rule_id, rule_version="1", patient_id=PATIENT, clinic_id="clinic-a",
        severity=severity,  # type: ignore[arg-type]
        status="resolved" if resolved_at else ("acknowledged" if ack else "open"),
        raised_at=raised_at, resolved_at=resolved_at, thresholds={}, evidence=tuple(s.event_id for s in evidence),
        explanation=f"{rule_id} explained", acknowledgement=ack, withdrawn=withdrawn)


@dataclass
class Cohort:
    chart: Chart
    flags: list[StoredFlag]


def full_chart() -> Cohort:
    """Every kind: three courses (one stopped, one with an ICD-10 indication), adverse effects,
    four instruments, an episode with a session of every outcome, a modality and a step change,
    and flags (open, resolved, acknowledged, withdrawn)."""
    c = Chart()
    c.enrol()
    c.score("PHQ-9", [2, 2, 2, 2, 2, 2, 2, 2, 0], "moderately_severe", day(1))
    c.score("GAD-7", [1, 1, 1, 1, 1, 1, 1], "mild", day(1))
    c.score("PHQ-15", [1] * 15, "high", day(2))
    c.score("ISI", [2, 2, 2, 2, 2, 2, 2], "moderate", day(2))
    sert = c.start("sert", SERTRALINE, 50, day(3), atc="N06AB06")
    c.adjust("sert", 50, 100, day(10))
    c.effect("sert", "moderate", day(12))
    c.stop("sert", day(30))
    oxy = c.start("oxy", OXYCODONE, 5, day(20), indication="M54.5", as_needed=True)
    dia = c.start("dia", DIAZEPAM, 2, day(21))
    c.effect("dia", "mild", day(22), effect="somnolence")
    c.therapy("TherapyEpisodeStarted", day(4), modality="cbt", care_step=1, setting="remote",
              therapist_id="therapist-3")
    for n, (outcome, extra) in enumerate([("SessionCompleted", {"duration_min": 50, "techniques": ["thought_record"],
                                                                 "homework": []}),
                                          ("SessionMissed", {}), ("SessionCancelled", {"by": "patient"}),
                                          ("SessionCancelled", {"by": "clinic"}), (None, {})]):
        sid = f"s-{n}"
        c.therapy("SessionScheduled", day(5 + 7 * n, 8), session_id=sid, scheduled_at=day(5 + 7 * n, 14).isoformat())
        if outcome:
            c.therapy(outcome, day(5 + 7 * n, 14, ) + (timedelta(minutes=50) if extra.get("duration_min") else
                                                        timedelta()), session_id=sid, **extra)
    c.therapy("ModalityChanged", day(15), from_modality="cbt", to_modality="behavioral_activation",
              reason="non_response")
    c.therapy("CareStepChanged", day(16), from_step=1, to_step=2, reason="non_response")
    c.therapy("CareStepChanged", day(40), from_step=2, to_step=3, reason="partial_response")
    flags = [stored_flag("dangerous_combination", [oxy, dia], day(21), severity="high"),
             stored_flag("safety", [c.sources[1]], day(1), severity="urgent", resolved_at=day(9),
                         acknowledged_by="staff-9"),
             stored_flag("polypharmacy", [sert, oxy, dia], day(21), withdrawn=True, resolved_at=day(21))]
    return Cohort(c, flags)
