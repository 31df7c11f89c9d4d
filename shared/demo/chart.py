"""One synthetic patient's care as the requests that record it.

A :class:`Chart` is written like a care team would document, one call per clinical act, and
holds :class:`Step` s: a POST to one service, its body (times relative to the cohort's anchor),
an idempotency key unique within the patient, and the ids it names from earlier answers.

Steps are sent in an order chosen for the coordination service's rules, which evaluate each
patient against the wall clock as events arrive: every stream (a medication course, a therapy
episode) is sent whole and in order, and whatever answers a deadline (a dose change, a review)
is sent before what starts it (an escalation, an adverse effect, a life change), so that a
history loaded six months late raises as few passing flags as possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .catalog import DRUGS

# Phases, in sending order.
ENROL, PHARMACY, THERAPY, TEAM, EFFECTS, ASSESSMENT = range(6)
SESSION_OUTCOMES = frozenset({"SessionCompleted", "SessionMissed", "SessionCancelled"})


@dataclass(frozen=True, order=True)
class At:
    """A clinical moment, in minutes from the cohort's anchor (negative: the past)."""

    minutes: int

    @property
    def day(self) -> float:
        return self.minutes / 1440

    def render(self, anchor: datetime) -> str:
        return (anchor + timedelta(minutes=self.minutes)).isoformat()

    def plus(self, days: float = 0, minutes: int = 0) -> At:
        return At(self.minutes + round(days * 1440) + minutes)


def at(day: float, hour: int = 10, minute: int = 0) -> At:
    return At(round(day) * 1440 + hour * 60 + minute)


@dataclass
class Step:
    service: str
    path: str  # str.format over earlier ids: "/v1/patients/{patient}/medications/{c1}/discontinuation"
    body: dict[str, Any]
    key: str  # unique within the patient
    event: str  # the event it records (counted in the summary)
    when: At
    phase: int
    order: tuple[int, ...]  # within the phase: by stream, then as the stream needs; else by time
    saves: tuple[str, str] | None = None  # (id name, field of the answer)

    def rendered(self, anchor: datetime) -> dict[str, Any]:
        return _render(self.body, anchor)


def _render(value: Any, anchor: datetime) -> Any:
    if isinstance(value, At):
        return value.render(anchor)
    if isinstance(value, dict):
        return {k: _render(v, anchor) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, anchor) for v in value]
    return value


@dataclass
class _Course:
    drug: str
    started: At
    dose: float
    level: int = 0  # index in the regimen's steps of the next titration
    stopped: bool = False


@dataclass
class Chart:
    number: int
    clinic: str
    display_name: str
    birth_date: str
    external_ref: str
    preferences: dict[str, Any] | None = None
    steps: list[Step] = field(default_factory=list)
    courses: dict[str, _Course] = field(default_factory=dict)
    episodes: dict[str, At] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        body: dict[str, Any] = {"clinic_id": self.clinic, "display_name": self.display_name,
                                "birth_date": self.birth_date, "external_ref": self.external_ref}
        if self.preferences:
            body["preferences"] = self.preferences
        self._add("assessment", "/v1/patients", body, "enrol", "PatientEnrolled", At(0), ENROL, saves=("patient",
                                                                                                     "patient_id"))

    def _add(self, service: str, path: str, body: dict[str, Any], key: str, event: str, when: At, phase: int,
             stream: At | None = None, saves: tuple[str, str] | None = None) -> None:
        self._seq += 1
        if stream is None:
            order: tuple[int, ...] = (when.minutes, self._seq)
        elif event in SESSION_OUTCOMES:
            # Newest first: coordination then sees the latest session before the gaps between
            # the earlier ones, and a stretch without sessions never seems to reach "now".
            order = (stream.minutes, 1, -when.minutes, self._seq)
        else:
            order = (stream.minutes, 2 if event == "TherapyEpisodeEnded" else 0, self._seq)
        self.steps.append(Step(service, path, body, key, event, when, phase, order, saves))

    def ordered(self) -> list[Step]:
        return sorted(self.steps, key=lambda s: (s.phase, s.order))

    # assessment -----------------------------------------------------------------------------
    def score(self, instrument: str, items: list[int], when: At) -> None:
        self._add("assessment", "/v1/patients/{patient}/assessments",
                  {"instrument": instrument, "item_scores": items, "administered_at": when},
                  f"score:{instrument}:{when.minutes}", "AssessmentRecorded", when, ASSESSMENT)

    def life(self, category: str, direction: str, impact: str, when: At, note: str | None = None) -> None:
        body: dict[str, Any] = {"category": category, "direction": direction, "impact": impact, "occurred_at": when}
        if note:
            body["note"] = note
        self._add("assessment", "/v1/patients/{patient}/life-events", body, f"life:{when.minutes}",
                  "LifeCircumstanceChanged", when, ASSESSMENT)

    # pharmacy -------------------------------------------------------------------------------
    def start(self, drug: str, when: At, dose: float | None = None, indication: str | None = None) -> str:
        """``indication``: an ICD-10 code (the regimen's when None)."""
        regimen = DRUGS[drug]
        ref = f"c{len(self.courses) + 1}"
        course = self.courses[ref] = _Course(drug, when, dose if dose is not None else regimen.start)
        schedule: dict[str, Any] = {"times_per_day": regimen.times_per_day}
        if regimen.as_needed:
            schedule["as_needed"] = True
        self._add("pharmacy", "/v1/patients/{patient}/medications",
                  {"drug": regimen.drug, "dose": course.dose, "unit": "mg", "schedule": schedule,
                   "indication": {"system": "ICD-10", "code": indication or regimen.indication},
                   "started_at": when},
                  f"{ref}:start", "MedicationStarted", when, PHARMACY, stream=when, saves=(ref, "medication_id"))
        return ref

    def titrate(self, ref: str, when: At, reason: str = "titration") -> None:
        """The regimen's next dose step."""
        course = self.courses[ref]
        self.adjust(ref, DRUGS[course.drug].steps[course.level], when, reason)

    def can_titrate(self, ref: str) -> bool:
        course = self.courses[ref]
        return course.level < len(DRUGS[course.drug].steps)

    def adjust(self, ref: str, dose: float, when: At, reason: str) -> None:
        """``reason``: one of pharmacy's dose-change codes."""
        course = self.courses[ref]
        steps = DRUGS[course.drug].steps
        course.level = next((i + 1 for i, s in enumerate(steps) if s == dose), course.level)
        course.dose = dose
        self._add("pharmacy", f"/v1/patients/{{patient}}/medications/{{{ref}}}/dose-adjustments",
                  {"dose": dose, "unit": "mg", "reason": reason, "effective_at": when},
                  f"{ref}:dose:{when.minutes}", "DoseAdjusted", when, PHARMACY, stream=course.started)

    def stop(self, ref: str, when: At, reason: str, note: str | None = None) -> None:
        """``reason``: one of pharmacy's discontinuation codes; ``note`` stays in pharmacy."""
        course = self.courses[ref]
        course.stopped = True
        body: dict[str, Any] = {"reason": reason, "effective_at": when} | ({"reason_note": note} if note else {})
        self._add("pharmacy", f"/v1/patients/{{patient}}/medications/{{{ref}}}/discontinuation",
                  body, f"{ref}:stop", "MedicationDiscontinued", when,
                  PHARMACY, stream=course.started)

    def effect(self, ref: str, effect: str, severity: str, when: At) -> None:
        # After the team's decisions: whatever answered the effect is then known already.
        self._add("pharmacy", f"/v1/patients/{{patient}}/medications/{{{ref}}}/adverse-effects",
                  {"effect": effect, "severity": severity, "observed_at": when},
                  f"{ref}:effect:{when.minutes}", "AdverseEffectReported", when, EFFECTS)

    # therapy --------------------------------------------------------------------------------
    def episode(self, modality: str, step: int, when: At, setting: str = "individual") -> str:
        ref = f"e{len(self.episodes) + 1}"
        self.episodes[ref] = when
        self._add("therapy", "/v1/patients/{patient}/episodes",
                  {"modality": modality, "care_step": step, "started_at": when, "setting": setting,
                   "therapist_id": f"demo-therapist-{self.clinic}"},
                  f"{ref}:start", "TherapyEpisodeStarted", when, THERAPY, stream=when, saves=(ref, "episode_id"))
        return ref

    def session(self, ep: str, number: int, when: At, outcome: str, techniques: list[str]) -> None:
        """Book a session and record what happened: completed, missed, cancelled_by_patient or
        cancelled_by_clinic (a day ahead)."""
        sid = f"{ep}s{number}"
        base = f"/v1/patients/{{patient}}/episodes/{{{ep}}}"
        stream = self.episodes[ep]
        self._add("therapy", f"{base}/sessions", {"scheduled_at": when}, f"{sid}:book", "SessionScheduled", when,
                  THERAPY, stream=stream, saves=(sid, "session_id"))
        path = f"{base}/sessions/{{{sid}}}"
        if outcome == "completed":
            self._add("therapy", f"{path}/completion",
                      {"completed_at": when.plus(minutes=50), "duration_min": 50, "techniques": techniques,
                       "homework": techniques[-1:]}, f"{sid}:done", "SessionCompleted", when, THERAPY, stream=stream)
        elif outcome == "missed":
            self._add("therapy", f"{path}/no-show", {"missed_at": when}, f"{sid}:missed", "SessionMissed", when,
                      THERAPY, stream=stream)
        else:
            by = "patient" if outcome == "cancelled_by_patient" else "clinic"
            self._add("therapy", f"{path}/cancellation", {"cancelled_at": when.plus(days=-1), "by": by},
                      f"{sid}:cancelled", "SessionCancelled", when, THERAPY, stream=stream)

    def modality(self, ep: str, modality: str, reason: str, when: At) -> None:
        self._add("therapy", f"/v1/patients/{{patient}}/episodes/{{{ep}}}/modality-changes",
                  {"modality": modality, "reason": reason, "changed_at": when}, f"{ep}:modality:{when.minutes}",
                  "ModalityChanged", when, THERAPY, stream=self.episodes[ep])

    def care_step(self, ep: str, to_step: int, reason: str, when: At) -> None:
        self._add("therapy", f"/v1/patients/{{patient}}/episodes/{{{ep}}}/care-step-changes",
                  {"to_step": to_step, "reason": reason, "changed_at": when}, f"{ep}:step:{when.minutes}",
                  "CareStepChanged", when, THERAPY, stream=self.episodes[ep])

    def end(self, ep: str, reason: str, when: At) -> None:
        self._add("therapy", f"/v1/patients/{{patient}}/episodes/{{{ep}}}/end", {"reason": reason, "ended_at": when},
                  f"{ep}:end", "TherapyEpisodeEnded", when, THERAPY, stream=self.episodes[ep])

    # coordination ---------------------------------------------------------------------------
    def escalate(self, target: str, reason: str, when: At) -> None:
        self._add("coordination", "/v1/patients/{patient}/escalations",
                  {"target": target, "reason": reason, "decided_at": when}, f"escalation:{when.minutes}",
                  "EscalationDecided", when, TEAM)

    def review(self, reason: str, goals: list[str], when: At) -> None:
        self._add("coordination", "/v1/patients/{patient}/care-plan-reviews",
                  {"reason": reason, "reviewed_at": when, "goals": goals}, f"review:{when.minutes}",
                  "CarePlanReviewed", when, TEAM)

    def conference(self, decisions: list[str], when: At) -> None:
        attendees = [f"demo-{role}-{self.clinic}" for role in ("prescriber", "therapist", "coordinator")]
        self._add("coordination", "/v1/patients/{patient}/case-conferences",
                  {"held_at": when, "attendees": attendees, "decisions": decisions}, f"conference:{when.minutes}",
                  "CaseConferenceHeld", when, TEAM)
