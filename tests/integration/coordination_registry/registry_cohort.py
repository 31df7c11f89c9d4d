"""A cohort with known process timings, written through the HTTP APIs of assessment, pharmacy,
therapy and coordination, and the measures it must give. Not a test module.

Every patient's care starts on day 0 (t0, 200 days ago, so every window has closed); the
events of ``LATER`` are recorded only after the moment the test reads the measures "as of".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.coordination.coordination_support import Stack
from tests.support.services import token

T0 = (datetime.now(UTC) - timedelta(days=200)).replace(hour=9, minute=0, second=0, microsecond=0)
STAFF = {"clinic-a": token("coordinator", "assessor", "prescriber", "therapist", clinics=("clinic-a",)),
         "clinic-b": token("coordinator", "assessor", "prescriber", "therapist", clinics=("clinic-b",))}
DRUGS = [("sertraline", "36437"), ("ibuprofen", "5640"), ("paracetamol", "161"), ("pregabalin", "187832"),
         ("quetiapine", "51272")]


def day(n: float, hour: int = 9) -> datetime:
    return T0 + timedelta(days=n, hours=hour - 9)


def phq9(total: int) -> list[int]:
    items, rest = [], total
    for _ in range(8):
        items.append(min(rest, 3))
        rest -= items[-1]
    return [*items, 0]


@dataclass
class Patient:
    stack: Stack
    name: str
    clinic: str = "clinic-a"
    manager: str = "staff-1"
    patient_id: str = ""
    entries: int = 1  # the enrolment
    episode: str | None = None
    later: list[Any] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return STAFF[self.clinic]

    async def post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await client.post(f"/v1/patients/{self.patient_id}{path}", json=body, headers=self.headers)
        assert resp.status_code == 201, resp.text
        self.entries += 1
        return resp.json()  # type: ignore[no-any-return]

    async def enroll(self) -> Patient:
        resp = await self.stack.assessment.post("/v1/patients", headers=token(
            "coordinator", clinics=(self.clinic,), sub=self.manager), json={
            "clinic_id": self.clinic, "display_name": "Erika Mustermann", "birth_date": "1975-02-03"})
        assert resp.status_code == 201, resp.text
        self.patient_id = resp.json()["patient_id"]
        return self

    async def phq9(self, total: int, at: datetime) -> None:
        await self.post(self.stack.assessment, "/assessments", {
            "instrument": "PHQ-9", "item_scores": phq9(total), "administered_at": at.isoformat()})

    async def escalate(self, at: datetime) -> None:
        await self.post(self.stack.coordination, "/escalations", {
            "target": "pharmacotherapy", "reason": "non_response", "decided_at": at.isoformat()})

    async def conference(self, at: datetime) -> None:
        await self.post(self.stack.coordination, "/case-conferences", {
            "attendees": ["staff-1", "staff-2"], "decisions": ["escalate_pharmacotherapy"], "held_at": at.isoformat()})

    async def start(self, name: str, code: str, at: datetime) -> None:
        await self.post(self.stack.pharmacy, "/medications", {
            "drug": {"code": code, "system": "RxNorm", "name": name}, "dose": 10, "unit": "mg",
            "schedule": {"times_per_day": 1}, "started_at": at.isoformat()})

    async def session(self, at: datetime) -> None:
        assert self.stack.therapy is not None
        if self.episode is None:
            body = await self.post(self.stack.therapy, "/episodes", {
                "modality": "cbt", "care_step": 2, "started_at": day(0, 10).isoformat()})
            self.episode = body["episode_id"]
        booked = await self.post(self.stack.therapy, f"/episodes/{self.episode}/sessions",
                                 {"scheduled_at": at.isoformat()})
        await self.post(self.stack.therapy, f"/episodes/{self.episode}/sessions/{booked['session_id']}/completion",
                        {"completed_at": at.isoformat(), "duration_min": 50, "techniques": [], "homework": []})


async def write_before(stack: Stack) -> dict[str, Patient]:
    """What is recorded before the as-of moment."""
    p = {name: await Patient(stack, name, **kw).enroll() for name, kw in (
        ("prompt", {}), ("late", {"manager": "staff-2"}), ("improved", {}), ("mild", {}), ("poly", {}),
        ("other_clinic", {"clinic": "clinic-b"}))}
    a = p["prompt"]  # follow-up day 28; not improved by week 8; conference day 60, escalation day 63
    await a.phq9(16, day(0))
    await a.phq9(14, day(28))
    await a.phq9(14, day(50))
    await a.phq9(8, day(84))  # 12 weeks: response (8 is half of 16), no remission
    b = p["late"]  # first follow-up day 29; escalation day 86 only (after the review window)
    await b.phq9(15, day(0))
    await b.phq9(13, day(29))
    await b.phq9(12, day(56))
    await b.phq9(4, day(180))  # 24 weeks (window 154-182): response and remission; none in 12 weeks' window
    c = p["improved"]  # a session on day 14; improved by week 8
    await c.phq9(20, day(0))
    await c.session(day(14))
    await c.phq9(9, day(56))
    await c.phq9(4, day(98))  # 12 weeks: response and remission; none in 24 weeks' window
    d = p["mild"]  # a baseline of 9: in the follow-up measure only
    await d.phq9(9, day(0))
    await d.phq9(8, day(20))
    e = p["poly"]  # five drugs from day 0; no follow-up; not improved, never reviewed or escalated
    await e.phq9(12, day(0))
    for hour, (name, code) in enumerate(DRUGS, start=10):
        await e.start(name, code, day(0, hour))
    f = p["other_clinic"]
    await f.phq9(18, day(0))
    await f.phq9(17, day(10))
    return p


async def write_after(p: dict[str, Patient]) -> None:
    """Recorded after the as-of moment (dated long before it)."""
    await p["prompt"].conference(day(60))
    await p["prompt"].escalate(day(63))
    await p["prompt"].phq9(3, day(168))  # 24 weeks: response and remission
    await p["late"].escalate(day(86))


# measure → (numerator, denominator) by patient name, for clinic-a's month of day 0, now and as of before
EXPECTED_NOW: dict[str, tuple[set[str], set[str]]] = {
    "follow_up_4w": ({"prompt", "improved", "mild"}, {"prompt", "late", "improved", "mild", "poly"}),
    "case_review_8_12w": ({"prompt"}, {"prompt", "late", "poly"}),
    "response_12w": ({"prompt", "improved"}, {"prompt", "late", "improved", "poly"}),
    "remission_12w": ({"improved"}, {"prompt", "late", "improved", "poly"}),
    "response_24w": ({"prompt", "late"}, {"prompt", "late", "improved", "poly"}),
    "remission_24w": ({"prompt", "late"}, {"prompt", "late", "improved", "poly"}),
    "nonresponse_to_escalation_days": ({"prompt", "late"}, {"prompt", "late", "poly"}),
    "polypharmacy": ({"poly"}, {"prompt", "late", "improved", "mild", "poly"}),
}
MEDIAN_NOW = 18.5  # days 7 (prompt) and 30 (late) after day 56
EXPECTED_BEFORE = EXPECTED_NOW | {
    "case_review_8_12w": (set(), {"prompt", "late", "poly"}),
    "response_24w": ({"late"}, {"prompt", "late", "improved", "poly"}),
    "remission_24w": ({"late"}, {"prompt", "late", "improved", "poly"}),
    "nonresponse_to_escalation_days": (set(), {"prompt", "late", "poly"}),
}
