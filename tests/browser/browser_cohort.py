"""A small cohort written through the public HTTP APIs, for the pages to show: three synthetic
patients of clinic-a whose care raises known flags. Not a test module.

- Alex: six months of care on every lane — sertraline titrated (an adverse effect, reviewed
  late: an *unreviewed adverse effect* flag that resolved), oxycodone with diazepam (an open
  *dangerous combination*, high), a CBT episode with attended, missed and cancelled sessions
  that moves to ACT at step 3 after an escalation, a job loss, a review and a case conference,
  and PHQ-9, GAD-7 and PHQ-15 scores falling through their bands.
- Blake: five drugs at once (*polypharmacy*, warning).
- Casey: two sessions missed in a row (*disengagement*, warning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.services import token

CLINIC = "clinic-a"
STAFF = token("coordinator", "assessor", "prescriber", "therapist", clinics=(CLINIC,), sub="cohort-writer")


def rx(name: str, code: str) -> dict[str, str]:
    return {"code": code, "system": "RxNorm", "name": name}


SERTRALINE, OXYCODONE, DIAZEPAM = rx("sertraline", "36437"), rx("oxycodone", "7804"), rx("diazepam", "3322")
IBUPROFEN, PARACETAMOL = rx("ibuprofen", "5640"), rx("paracetamol", "161")
PREGABALIN, QUETIAPINE = rx("pregabalin", "187832"), rx("quetiapine", "51272")


def items(total: int, count: int, top: int) -> list[int]:
    """Item scores adding up to ``total`` (the last item, PHQ-9's item 9, left at 0)."""
    scores = [0] * count
    for i in range(total):
        slot = i % (count - 1)
        if scores[slot] >= top:
            raise ValueError("total too high")
        scores[slot] += 1
    return scores


@dataclass
class Patient:
    clients: dict[str, httpx.AsyncClient]
    patient_id: str
    t0: datetime
    courses: dict[str, tuple[str, int]] = field(default_factory=dict)
    episode_id: str | None = None

    def day(self, n: float, hour: int = 10) -> str:
        return (self.t0 + timedelta(days=n, hours=hour)).isoformat()

    async def post(self, service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.clients[service].post(f"/v1/patients/{self.patient_id}{path}", json=body, headers=STAFF)
        assert resp.status_code == 201, f"{service} {path}: {resp.status_code} {resp.text}"
        return resp.json()  # type: ignore[no-any-return]

    async def score(self, instrument: str, scores: list[int], day: float) -> None:
        await self.post("assessment", "/assessments", {"instrument": instrument, "item_scores": scores,
                                                       "administered_at": self.day(day)})

    async def start(self, drug: dict[str, str], dose: float, times: int, day: float) -> None:
        body = await self.post("pharmacy", "/medications", {
            "drug": drug, "dose": dose, "unit": "mg", "schedule": {"times_per_day": times},
            "indication": {"system": "ICD-10", "code": "F32.1"}, "started_at": self.day(day)})
        self.courses[drug["name"]] = (body["medication_id"], body["version"])

    async def adjust(self, drug: str, dose: float, day: float) -> None:
        mid, version = self.courses[drug]
        body = await self.post("pharmacy", f"/medications/{mid}/dose-adjustments", {
            "dose": dose, "unit": "mg", "reason": "insufficient_response", "effective_at": self.day(day),
            "expected_version": version})
        self.courses[drug] = (mid, body["version"])

    async def effect(self, drug: str, severity: str, day: float) -> None:
        mid, _ = self.courses[drug]
        body = await self.post("pharmacy", f"/medications/{mid}/adverse-effects", {
            "effect": "nausea", "severity": severity, "observed_at": self.day(day)})
        self.courses[drug] = (mid, body["version"])

    async def episode(self, modality: str, step: int, day: float) -> None:
        body = await self.post("therapy", "/episodes", {"modality": modality, "care_step": step,
                                                        "started_at": self.day(day), "setting": "individual"})
        self.episode_id = body["episode_id"]

    async def session(self, day: float, outcome: str) -> None:
        """A session booked for ``day`` and its outcome: completed, missed, patient, clinic or booked."""
        base = f"/episodes/{self.episode_id}"
        session_id = (await self.post("therapy", f"{base}/sessions", {"scheduled_at": self.day(day, 14)}))[
            "session_id"]
        path = f"{base}/sessions/{session_id}"
        if outcome == "completed":
            await self.post("therapy", f"{path}/completion", {
                "completed_at": self.day(day, 15), "duration_min": 50, "techniques": ["thought_record"]})
        elif outcome == "missed":
            await self.post("therapy", f"{path}/no-show", {})
        elif outcome in ("patient", "clinic"):
            await self.post("therapy", f"{path}/cancellation", {"cancelled_at": self.day(day - 1), "by": outcome})

    async def change(self, what: str, value: Any, reason: str, day: float) -> None:
        path, key = {"modality": ("modality-changes", "modality"), "step": ("care-step-changes", "to_step")}[what]
        await self.post("therapy", f"/episodes/{self.episode_id}/{path}", {key: value, "reason": reason,
                                                                          "changed_at": self.day(day)})


async def enroll(clients: dict[str, httpx.AsyncClient], name: str, t0: datetime) -> Patient:
    resp = await clients["assessment"].post("/v1/patients", headers=STAFF, json={
        "clinic_id": CLINIC, "display_name": name, "birth_date": "1979-04-02"})
    assert resp.status_code == 201, resp.text
    return Patient(clients, resp.json()["patient_id"], t0)


async def alex(p: Patient) -> None:
    for day, total in ((1, 16), (15, 15), (29, 14), (57, 12), (85, 8), (113, 6)):
        await p.score("PHQ-9", items(total, 9, 3), day)
    for day, total in ((1, 12), (57, 9), (113, 5)):
        await p.score("GAD-7", items(total, 7, 3), day)
    for day, total in ((2, 14), (85, 9)):
        await p.score("PHQ-15", items(total, 15, 2), day)
    await p.start(SERTRALINE, 50, 1, 3)
    await p.adjust("sertraline", 100, 31)
    await p.effect("sertraline", "moderate", 34)  # reviewed only at day 55: flagged at day 41
    await p.start(OXYCODONE, 5, 2, 40)
    await p.start(DIAZEPAM, 5, 1, 46)  # with the opioid: a dangerous combination from here on
    await p.episode("cbt", 2, 5)
    for day, outcome in ((8, "completed"), (15, "completed"), (22, "missed"), (29, "completed"), (36, "clinic"),
                         (43, "completed"), (50, "patient"), (57, "completed")):
        await p.session(day, outcome)
    await p.post("assessment", "/life-events", {"category": "employment", "direction": "worsened",
                                                "impact": "high", "occurred_at": p.day(49)})
    await p.post("coordination", "/care-plan-reviews", {"reason": "life_change", "goals": ["return_to_work"],
                                                        "reviewed_at": p.day(55)})
    await p.post("coordination", "/escalations", {"target": "psychotherapy", "reason": "partial_response",
                                                  "decided_at": p.day(50)})
    await p.post("coordination", "/case-conferences", {"attendees": ["dr-a", "th-b"],
                                                       "decisions": ["escalate_psychotherapy"],
                                                       "held_at": p.day(52)})
    await p.change("modality", "act", "partial_response", 61)
    await p.change("step", 3, "partial_response", 61)
    for day, outcome in ((64, "completed"), (71, "completed"), (78, "completed"), (85, "missed"),
                         (92, "completed"), (99, "completed"), (106, "completed"), (113, "completed"),
                         (127, "booked")):
        await p.session(day, outcome)


async def blake(p: Patient) -> None:
    for n, drug in enumerate((SERTRALINE, IBUPROFEN, PARACETAMOL, PREGABALIN, QUETIAPINE)):
        await p.start(drug, 25, 1, 10 + 12 * n)
    for day, total in ((5, 19), (60, 17)):
        await p.score("PHQ-9", items(total, 9, 3), day)


async def casey(p: Patient) -> None:
    await p.score("GAD-7", items(11, 7, 3), 70)
    await p.episode("behavioral_activation", 1, 75)
    for day, outcome in ((80, "completed"), (87, "missed"), (94, "missed")):
        await p.session(day, outcome)


@dataclass
class Cohort:
    alex: str
    blake: str
    casey: str


async def load_cohort(urls: dict[str, str]) -> Cohort:
    t0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=120)
    clients = {name: httpx.AsyncClient(base_url=url, timeout=30) for name, url in urls.items()}
    try:
        patients = []
        for name, write in (("Alex Example (synthetic)", alex), ("Blake Sample (synthetic)", blake),
                            ("Casey Test (synthetic)", casey)):
            patient = await enroll(clients, name, t0)
            await write(patient)
            patients.append(patient.patient_id)
        return Cohort(*patients)
    finally:
        for client in clients.values():
            await client.aclose()
