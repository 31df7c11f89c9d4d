"""Envelopes that raise every rule's flag, shaped as the services publish them (free text
included, as producers send it), for the flag tests. Not a test module."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

from shared.envelope import Envelope

from .builders import PATIENT, SNAPSHOT, day, envelope

_seq = itertools.count(1)


def _formulary(atc: str, **flags: bool) -> dict[str, Any]:
    return {**SNAPSHOT, "atc": atc, "therapeutic_class": atc[:5], "serotonergic": False, **flags}


DRUGS = {  # name: (RxNorm code, formulary snapshot)
    "sertraline": ("36437", _formulary("N06AB06", serotonergic=True)),
    "oxycodone": ("7804", _formulary("N02AA05", opioid=True, cns_depressant=True)),
    "diazepam": ("3322", _formulary("N05BA01", benzodiazepine=True, cns_depressant=True)),
    "ibuprofen": ("5640", _formulary("M01AE01")),
    "paracetamol": ("161", _formulary("N02BE01")),
    "pregabalin": ("187832", _formulary("N03AX16", cns_depressant=True)),
}


class Chart:
    """One patient's streams; every event recorded 5 minutes after it occurred unless ``late``."""

    def __init__(self, patient: str = PATIENT) -> None:
        self.patient = patient
        self.versions: dict[str, int] = {}
        self.events: list[Envelope] = []

    def add(self, service: str, name: str, stream: str, at_day: float, late: float = 0, **payload: Any) -> Envelope:
        self.versions[stream] = self.versions.get(stream, 0) + 1
        at = day(at_day)
        env = envelope(service, name, payload, at=at, stream=stream, seq=self.versions[stream], patient=self.patient,
                       recorded_at=at + timedelta(minutes=5) + timedelta(days=late))
        self.events.append(env)
        return env

    def start(self, drug: str, at: float, **kw: Any) -> str:
        mid = str(uuid.uuid4())
        code, snapshot = DRUGS[drug]
        self.add("pharmacy", "MedicationStarted", f"medication-{mid}", at, medication_id=mid,
                 drug={"code": code, "system": "RxNorm", "name": drug}, dose=10, unit="mg",
                 schedule={"times_per_day": 1, "as_needed": False}, route="oral",
                 indication="back pain since the fall at Müller GmbH", prescriber_id="staff-1", formulary=snapshot,
                 override_reason=None, **kw)
        return mid

    def adjust(self, mid: str, at: float, direction: str = "increase", late: float = 0) -> None:
        self.add("pharmacy", "DoseAdjusted", f"medication-{mid}", at, late, medication_id=mid, previous_dose=10,
                 dose=20, unit="mg", direction=direction, reason="Erika asked for more", prescriber_id="staff-1",
                 daily_dose=20)

    def stop(self, mid: str, at: float) -> None:
        self.add("pharmacy", "MedicationDiscontinued", f"medication-{mid}", at, medication_id=mid,
                 reason="no longer needed", prescriber_id="staff-1")

    def effect(self, mid: str, at: float, severity: str = "moderate") -> None:
        self.add("pharmacy", "AdverseEffectReported", f"medication-{mid}", at, medication_id=mid,
                 effect="nausea every morning", severity=severity)

    def score(self, at: float, items: list[int], instrument: str = "PHQ-9", late: float = 0) -> None:
        self.add("assessment", "AssessmentRecorded", f"patient-{self.patient}", at, late,
                 assessment_id=str(uuid.uuid4()), instrument=instrument, item_scores=items, total=sum(items),
                 band="moderate", max_total=27, loinc="44261-6", safety_item_positive=items[-1] > 0)

    def life(self, at: float, impact: str = "high") -> None:
        self.add("assessment", "LifeCircumstanceChanged", f"patient-{self.patient}", at,
                 life_event_id=str(uuid.uuid4()), category="employment", direction="worsened", impact=impact,
                 note="lost the job at Müller GmbH")

    def episode(self, at: float, step: int = 2) -> str:
        eid = str(uuid.uuid4())
        self.add("therapy", "TherapyEpisodeStarted", f"episode-{eid}", at, episode_id=eid, modality="cbt",
                 care_step=step, therapist_id="staff-2", setting="individual")
        return eid

    def session(self, eid: str, name: str, at: float, late: float = 0, **payload: Any) -> None:
        self.add("therapy", name, f"episode-{eid}", at, late, episode_id=eid, session_id=str(uuid.uuid4()),
                 **payload)

    def escalate(self, at: float, due_in: float = 14) -> None:
        self.add("coordination", "EscalationDecided", f"care-plan-{self.patient}", at,
                 escalation_id=str(uuid.uuid4()), target="both", reason="non_response",
                 due_by=day(at + due_in).isoformat(), decided_by="staff-3")

    def review(self, at: float) -> None:
        self.add("coordination", "CarePlanReviewed", f"care-plan-{self.patient}", at, review_id=str(uuid.uuid4()),
                 reason="scheduled", goals=[], reviewed_by="staff-3")


PHQ9_HIGH = [2, 2, 2, 2, 2, 2, 2, 2, 0]  # 16, item 9 = 0


def every_rule(patient: str = PATIENT) -> Chart:
    """One patient whose history raises a flag of each of the nine rules, some resolved, with
    backdated events recorded days late."""
    c = Chart(patient)
    eid = c.episode(0)
    c.score(1, PHQ9_HIGH)  # baseline 16 → stalled progress at day 57 (no response, no escalation by then)
    c.score(30, [2, 2, 2, 2, 2, 1, 1, 1, 0])
    meds = [c.start(d, 2 + n) for n, d in enumerate(("sertraline", "ibuprofen", "paracetamol", "pregabalin"))]
    oxy = c.start("oxycodone", 8)  # the fifth drug: polypharmacy; opioid + serotonergic: dangerous combination
    diazepam = c.start("diazepam", 9)  # opioid + benzodiazepine: dangerous combination (high)
    c.adjust(meds[0], 10)
    c.adjust(meds[0], 12, late=3)  # the second increase in 7 days, recorded 3 days late: rapid titration
    c.effect(meds[1], 11)  # moderate, never answered: unreviewed adverse effect at day 18
    c.life(13)  # no review within 14 days: plan review due at day 27
    c.session(eid, "SessionMissed", 14)
    c.session(eid, "SessionCancelled", 21, by="patient")  # counts as missed: disengagement at day 21
    c.session(eid, "SessionCompleted", 25, duration_min=50)  # resolves it
    c.score(40, [1, 1, 1, 1, 1, 1, 1, 1, 2])  # item 9 = 2: safety
    c.stop(diazepam, 45)
    c.escalate(60)  # never enacted: stalled escalation at day 74
    c.review(62)  # resolves the plan review (late) and the adverse effect
    c.stop(oxy, 70)
    return c
