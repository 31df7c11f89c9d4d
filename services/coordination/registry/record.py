"""A patient's course of care as the registry reads it: pure, from the event history.

One pass over the history known at a moment (``rules.history.known_as_of``: recorded by then
and happened by then) keeps what the caseload and the measures need: the start of care, the
PHQ-9 and GAD-7 totals, the contacts, the team's escalations and case conferences, a discharge,
and the stretches with many drugs active. Payloads are read by field name, as the rules read
them; a payload lacking a field is skipped (the projection dead-letters malformed ones earlier).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.coordination.rules.history import HistoryEvent, known_as_of

POLYPHARMACY_DRUGS = 5
"""Distinct drugs active at once that make polypharmacy (Masnoon 2017, as the rule's default)."""

PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "AssessmentRecorded": ("instrument", "total"),
    "CaseConferenceHeld": ("decisions",),
    "MedicationStarted": ("drug", "medication_id"),
    "MedicationDiscontinued": ("medication_id",),
}
"""The payload fields :class:`_Reader` reads, by event; of the other events it reads none. A read
may fetch these alone (``registry.inputs``): the record comes out the same."""

CONTACT_EVENTS = frozenset({("assessment", "AssessmentRecorded"), ("therapy", "SessionCompleted")})
"""A contact with the patient: a questionnaire administered or a therapy session attended."""


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    total: int
    day: int = 0  # days since the start of care (see CareRecord.day)


Stretch = tuple[datetime, datetime | None]
"""[from, to): a time with at least POLYPHARMACY_DRUGS distinct drugs active (to None: still)."""


@dataclass(frozen=True, slots=True)
class CareRecord:
    patient_id: str
    clinic_id: str
    enrolled_at: datetime | None
    start: datetime  # the start of care: the enrolment or the first contact, whichever came first
    phq9: tuple[Reading, ...] = ()  # in clinical order; the first is the baseline
    gad7: tuple[Reading, ...] = ()
    contacts: tuple[datetime, ...] = ()
    escalations: tuple[datetime, ...] = ()
    conferences: tuple[datetime, ...] = ()
    discharged_at: datetime | None = None  # a case conference decided "discharge" and no contact followed
    polypharmacy: tuple[Stretch, ...] = ()
    # The same moments as days since the start of care, counted once (the measures compare days).
    contact_days: tuple[int, ...] = ()
    escalation_days: tuple[int, ...] = ()
    conference_days: tuple[int, ...] = ()

    @property
    def baseline(self) -> Reading | None:
        return self.phq9[0] if self.phq9 else None

    def day(self, at: datetime) -> int:
        """Days since the start of care, by calendar date (UTC): the start's own date is day 0."""
        return day_number(self.start, at)


def day_number(start: datetime, at: datetime) -> int:
    return _ordinal(at) - _ordinal(start)


def _ordinal(at: datetime) -> int:
    return (at if at.tzinfo is UTC else at.astimezone(UTC)).toordinal()


def _total(payload: Mapping[str, Any]) -> int | None:
    total = payload.get("total")
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class _Reader:
    def __init__(self) -> None:
        self.enrolled_at: datetime | None = None
        self.scores: dict[str, list[Reading]] = {"PHQ-9": [], "GAD-7": []}
        self.contacts: list[datetime] = []
        self.escalations: list[datetime] = []
        self.conferences: list[datetime] = []
        self.discharge: datetime | None = None
        self.courses: dict[str, tuple[tuple[str, str], datetime]] = {}
        self.stops: dict[str, datetime] = {}

    def read(self, e: HistoryEvent) -> None:
        p, key = e.payload, (e.service, e.event_name)
        if key in CONTACT_EVENTS:
            self.contacts.append(e.occurred_at)
        if key == ("assessment", "PatientEnrolled"):
            self.enrolled_at = self.enrolled_at or e.occurred_at
        elif key == ("assessment", "AssessmentRecorded"):
            total, instrument = _total(p), p.get("instrument")
            if total is not None and instrument in self.scores:
                self.scores[instrument].append(Reading(e.occurred_at, total))
        elif key == ("coordination", "EscalationDecided"):
            self.escalations.append(e.occurred_at)
        elif key == ("coordination", "CaseConferenceHeld"):
            self.conferences.append(e.occurred_at)
            decisions = p.get("decisions") or ()
            if "discharge" in decisions:
                self.discharge = e.occurred_at
        elif key == ("pharmacy", "MedicationStarted"):
            drug, course = p.get("drug"), p.get("medication_id") or e.stream_id
            if isinstance(drug, Mapping) and drug.get("code") and course not in self.courses:
                self.courses[course] = ((str(drug.get("system")), str(drug["code"]).strip()), e.occurred_at)
        elif key == ("pharmacy", "MedicationDiscontinued"):
            self.stops.setdefault(p.get("medication_id") or e.stream_id, e.occurred_at)


def polypharmacy_stretches(courses: Mapping[str, tuple[tuple[str, str], datetime]],
                           stops: Mapping[str, datetime], threshold: int = POLYPHARMACY_DRUGS) -> tuple[Stretch, ...]:
    """Where ``threshold`` distinct drugs are active at once ("active at t" = started at or before
    t and not stopped at or before t, as the rules count; all changes at one instant together)."""
    changes: list[tuple[datetime, int, tuple[str, str]]] = []
    for course, (drug, started) in courses.items():
        stop = stops.get(course)
        if stop is not None and stop <= started:
            continue
        changes.append((started, 1, drug))
        if stop is not None:
            changes.append((stop, -1, drug))
    changes.sort(key=lambda c: c[0])
    active: dict[tuple[str, str], int] = {}
    out: list[Stretch] = []
    since: datetime | None = None
    i = 0
    while i < len(changes):
        at = changes[i][0]
        while i < len(changes) and changes[i][0] == at:
            _, delta, drug = changes[i]
            active[drug] = active.get(drug, 0) + delta
            if active[drug] == 0:
                del active[drug]
            i += 1
        if since is None and len(active) >= threshold:
            since = at
        elif since is not None and len(active) < threshold:
            out.append((since, at))
            since = None
    if since is not None:
        out.append((since, None))
    return tuple(out)


def care_record(patient_id: str, clinic_id: str, history: Iterable[HistoryEvent], as_of: datetime
                ) -> CareRecord | None:
    """The patient's course as known at ``as_of``; None before the enrolment or a first contact."""
    reader = _Reader()
    for event in known_as_of(history, as_of):
        reader.read(event)
    firsts = [t for t in (reader.enrolled_at, reader.contacts[0] if reader.contacts else None) if t is not None]
    if not firsts:
        return None
    discharged = reader.discharge
    if discharged is not None and reader.contacts and reader.contacts[-1] > discharged:
        discharged = None  # seen again after the discharge: back in care
    start = min(firsts)
    origin = _ordinal(start)

    def days(moments: list[datetime]) -> tuple[int, ...]:
        return tuple(_ordinal(t) - origin for t in moments)

    def readings(scores: list[Reading]) -> tuple[Reading, ...]:
        return tuple(Reading(s.at, s.total, _ordinal(s.at) - origin) for s in scores)

    return CareRecord(
        patient_id=patient_id, clinic_id=clinic_id, enrolled_at=reader.enrolled_at, start=start,
        phq9=readings(reader.scores["PHQ-9"]), gad7=readings(reader.scores["GAD-7"]), contacts=tuple(reader.contacts),
        escalations=tuple(reader.escalations), conferences=tuple(reader.conferences), discharged_at=discharged,
        polypharmacy=polypharmacy_stretches(reader.courses, reader.stops), contact_days=days(reader.contacts),
        escalation_days=days(reader.escalations), conference_days=days(reader.conferences))
