"""A patient's chart written through the real HTTP APIs of the four services; each entry
remembers the timeline text it must produce. Not a test module."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from coordination_support import Stack

from tests.support.services import token

CLINICIAN = {"clinic-a": token("coordinator", "assessor", "prescriber", "therapist", clinics=("clinic-a",)),
             "clinic-b": token("coordinator", "assessor", "prescriber", "therapist", clinics=("clinic-b",))}


@dataclass
class Expected:
    at: datetime
    service: str
    type: str
    summary: str


@dataclass
class Chart:
    stack: Stack
    patient_id: str
    t0: datetime
    clinic: str = "clinic-a"
    expected: list[Expected] = field(default_factory=list)
    courses: dict[str, tuple[str, int]] = field(default_factory=dict)  # drug → (medication id, version)
    episode_id: str | None = None

    def day(self, n: float, hour: int = 9, minute: int = 0) -> datetime:
        return self.t0 + timedelta(days=n, hours=hour - 9, minutes=minute)

    @property
    def headers(self) -> dict[str, str]:
        return CLINICIAN[self.clinic]

    async def _post(self, client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
        # A service learns of an enrolment through assessment's topic: until it has, the patient
        # is unknown there (404, nothing written), and a client tries again, as real ones do.
        deadline = time.monotonic() + 20
        while True:
            resp = await client.post(f"/v1/patients/{self.patient_id}{path}", json=body, headers=self.headers)
            if resp.status_code != 404 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert resp.status_code == 201, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def _expect(self, at: datetime, service: str, type_: str, summary: str) -> None:
        self.expected.append(Expected(at, service, type_, summary))

    async def score(self, instrument: str, items: list[int], at: datetime, summary: str) -> None:
        await self._post(self.stack.assessment, "/assessments",
                         {"instrument": instrument, "item_scores": items, "administered_at": at.isoformat()})
        self._expect(at, "assessment", "AssessmentRecorded", summary)

    async def life(self, category: str, direction: str, impact: str, at: datetime, summary: str,
                   note: str | None = None) -> None:
        await self._post(self.stack.assessment, "/life-events", {
            "category": category, "direction": direction, "impact": impact, "occurred_at": at.isoformat(),
            "note": note})
        self._expect(at, "assessment", "LifeCircumstanceChanged", summary)

    async def start(self, drug: dict[str, str], dose: float, times: int, at: datetime, summary: str) -> None:
        body = await self._post(self.stack.pharmacy, "/medications", {
            "drug": drug, "dose": dose, "unit": "mg", "schedule": {"times_per_day": times},
            "indication": {"system": "ICD-10", "code": "F45.4"},
            "indication_note": "chronic pain after the accident at Müller GmbH", "started_at": at.isoformat()})
        self.courses[drug["name"]] = (body["medication_id"], body["version"])
        self._expect(at, "pharmacy", "MedicationStarted", summary)

    async def adjust(self, drug: str, dose: float, at: datetime, summary: str) -> None:
        mid, version = self.courses[drug]
        body = await self._post(self.stack.pharmacy, f"/medications/{mid}/dose-adjustments", {
            "dose": dose, "unit": "mg", "reason": "insufficient_response",
            "reason_note": "patient reports little change", "effective_at": at.isoformat(),
            "expected_version": version})
        self.courses[drug] = (mid, body["version"])
        self._expect(at, "pharmacy", "DoseAdjusted", summary)

    async def effect(self, drug: str, severity: str, at: datetime, summary: str) -> None:
        mid, _ = self.courses[drug]
        body = await self._post(self.stack.pharmacy, f"/medications/{mid}/adverse-effects", {
            "effect": "nausea", "effect_note": "nausea every morning", "severity": severity,
            "observed_at": at.isoformat()})
        self.courses[drug] = (mid, body["version"])
        self._expect(at, "pharmacy", "AdverseEffectReported", summary)

    async def stop(self, drug: str, at: datetime, summary: str) -> None:
        mid, _ = self.courses[drug]
        await self._post(self.stack.pharmacy, f"/medications/{mid}/discontinuation", {
            "reason": "remission", "reason_note": "no longer needed", "effective_at": at.isoformat()})
        self._expect(at, "pharmacy", "MedicationDiscontinued", summary)

    async def episode(self, modality: str, step: int, at: datetime, summary: str, setting: str | None = None
                      ) -> None:
        assert self.stack.therapy is not None
        body = await self._post(self.stack.therapy, "/episodes", {
            "modality": modality, "care_step": step, "started_at": at.isoformat(), "setting": setting})
        self.episode_id = body["episode_id"]
        self._expect(at, "therapy", "TherapyEpisodeStarted", summary)

    async def _session_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.stack.therapy is not None
        return await self._post(self.stack.therapy, f"/episodes/{self.episode_id}{path}", body)

    async def schedule(self, at: datetime, summary: str) -> str:
        """A session booked now for ``at`` (in the past here: the event's time is the session's)."""
        body = await self._session_post("/sessions", {"scheduled_at": at.isoformat()})
        self._expect(at, "therapy", "SessionScheduled", summary)
        return str(body["session_id"])

    async def complete(self, session: str, at: datetime, minutes: int, summary: str) -> None:
        await self._session_post(f"/sessions/{session}/completion", {
            "completed_at": at.isoformat(), "duration_min": minutes, "techniques": ["thought_record"],
            "homework": ["activity_scheduling"]})
        self._expect(at, "therapy", "SessionCompleted", summary)

    async def no_show(self, session: str, at: datetime, summary: str) -> None:
        await self._session_post(f"/sessions/{session}/no-show", {})
        self._expect(at, "therapy", "SessionMissed", summary)

    async def cancel(self, session: str, at: datetime, by: str, summary: str) -> None:
        await self._session_post(f"/sessions/{session}/cancellation", {"cancelled_at": at.isoformat(), "by": by})
        self._expect(at, "therapy", "SessionCancelled", summary)

    async def change_modality(self, modality: str, reason: str, at: datetime, summary: str) -> None:
        await self._session_post("/modality-changes", {"modality": modality, "reason": reason,
                                                       "changed_at": at.isoformat()})
        self._expect(at, "therapy", "ModalityChanged", summary)

    async def step(self, to_step: int, reason: str, at: datetime, summary: str) -> None:
        await self._session_post("/care-step-changes", {"to_step": to_step, "reason": reason,
                                                        "changed_at": at.isoformat()})
        self._expect(at, "therapy", "CareStepChanged", summary)

    async def end(self, reason: str, at: datetime, summary: str) -> None:
        await self._session_post("/end", {"reason": reason, "ended_at": at.isoformat()})
        self._expect(at, "therapy", "TherapyEpisodeEnded", summary)

    async def escalate(self, target: str, reason: str, at: datetime, summary: str,
                       due_by: datetime | None = None) -> dict[str, Any]:
        body = await self._post(self.stack.coordination, "/escalations", {
            "target": target, "reason": reason, "decided_at": at.isoformat(),
            **({"due_by": due_by.isoformat()} if due_by else {})})
        self._expect(at, "coordination", "EscalationDecided", summary)
        return body

    async def review(self, reason: str, goals: list[str], at: datetime, summary: str) -> None:
        await self._post(self.stack.coordination, "/care-plan-reviews",
                         {"reason": reason, "goals": goals, "reviewed_at": at.isoformat()})
        self._expect(at, "coordination", "CarePlanReviewed", summary)

    async def conference(self, attendees: list[str], decisions: list[str], at: datetime, summary: str) -> None:
        await self._post(self.stack.coordination, "/case-conferences",
                         {"attendees": attendees, "decisions": decisions, "held_at": at.isoformat()})
        self._expect(at, "coordination", "CaseConferenceHeld", summary)

    def ordered(self) -> list[Expected]:
        """The expected timeline: clinical time, then the order things were recorded in."""
        return [e for _, e in sorted(enumerate(self.expected), key=lambda p: (p[1].at, p[0]))]
