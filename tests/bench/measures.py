"""How long a clinic's quality measures take for 10,000 patients (about 20 events each, six
months of care: questionnaires, sessions, medication starts and stops, team decisions).

Two parts: the computation alone (histories made in memory, read into care records and measured
for twelve months), and end to end: the histories copied into coordination's own tables
(``patient_directory``, ``timeline_entries``, with the timeline entries the registry does not
read and a second clinic beside it) in a scratch schema ``bench_<run>_measures``, then the read
``GET /v1/measures`` does (``registry.inputs.histories``) and the computation, timed apart; the
result must equal the in-memory one. Median of a few rounds. The schema is dropped at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.coordination.migrations import migrate_read_models
from services.coordination.registry.inputs import histories, records_of
from services.coordination.registry.measures import MeasuresResult, Month, compute
from services.coordination.registry.record import care_record
from services.coordination.rules import HistoryEvent
from shared.db import create_pool
from tests.bench.common import drop_schemas, new_run_id, progress

START = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
AS_OF = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
FIRST, LAST = Month(2025, 7), Month(2026, 6)
CLINIC, OTHER_CLINIC = "clinic-a", "clinic-b"


def patient_history(rng: random.Random, pid: str) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    t0 = START + timedelta(days=rng.randrange(0, 180), hours=rng.randrange(0, 8))

    def add(service: str, name: str, days: float, **payload: Any) -> None:
        at = t0 + timedelta(days=days)
        events.append(HistoryEvent(f"{pid}-{len(events)}", service, name, at, at + timedelta(minutes=5),
                                   f"{service}-{pid}", {"patient_id": pid, **payload}))

    add("assessment", "PatientEnrolled", 0, age_band="40-49")
    baseline = rng.randrange(5, 25)
    for week in range(0, 26, rng.choice((2, 3, 4))):
        add("assessment", "AssessmentRecorded", 7 * week + rng.random(), instrument="PHQ-9",
            total=max(0, baseline - rng.randrange(0, 2 + week // 2)))
    for week in range(1, 14, 2):
        add("therapy", "SessionCompleted", 7 * week + 1, session_id=f"s{week}")
    for k in range(rng.choice((1, 2, 3, 5, 6))):
        add("pharmacy", "MedicationStarted", k * 3, medication_id=f"{pid}-m{k}",
            drug={"system": "RxNorm", "code": str(1000 + k)})
    if rng.random() < 0.3:
        add("pharmacy", "MedicationDiscontinued", 60, medication_id=f"{pid}-m0")
    if rng.random() < 0.5:
        add("coordination", "EscalationDecided", rng.randrange(40, 100))
    if rng.random() < 0.4:
        add("coordination", "CaseConferenceHeld", rng.randrange(50, 90), decisions=["continue_plan"])
    return events


def clinic_histories(patients: int, seed: int = 7, prefix: str = "bench") -> list[tuple[str, list[HistoryEvent]]]:
    rng = random.Random(seed)
    return [(f"{prefix}-{n}", patient_history(rng, f"{prefix}-{n}")) for n in range(patients)]


@dataclass(frozen=True)
class MeasuresBench:
    patients: int
    events: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def in_memory(histories: list[tuple[str, list[HistoryEvent]]]) -> MeasuresResult:
    records = [r for pid, events in histories if (r := care_record(pid, CLINIC, events, AS_OF)) is not None]
    return compute(records, AS_OF, FIRST, LAST, [CLINIC])


def bench_measures(patients: int = 10_000, rounds: int = 3) -> MeasuresBench:
    histories = clinic_histories(patients)
    seconds = []
    for _ in range(rounds):
        t = time.perf_counter()
        result = in_memory(histories)
        seconds.append(time.perf_counter() - t)
        assert result.cell(CLINIC, "2025-07", "follow_up_4w").denominator  # it measured something
    return MeasuresBench(patients, sum(len(e) for _, e in histories), seconds)


def render(b: MeasuresBench) -> str:
    rounds = ", ".join(f"{s:.2f}" for s in b.seconds)
    return (f"quality measures of one clinic: {b.patients:,} patients ({b.events:,} events), 12 months, "
            f"8 measures: {b.median:.2f} s (median of [{rounds}] s; the timeline read not included)")


# --------------------------------------------------------------------------- end to end

FORMULARY = {"atc": "N06AB06", "known": True, "opioid": False, "version": "2026.1", "serotonergic": True,
             "qt_prolonging": False, "benzodiazepine": False, "cns_depressant": False, "therapeutic_class": "N06AB",
             "max_daily_dose": {"unit": "mg", "value": 200}}


def coded(e: HistoryEvent) -> dict[str, Any]:
    """The timeline's coded data for a bench event, of the size the projection writes (the
    payload without the patient id, and the fields the registry does not read)."""
    data = {k: v for k, v in e.payload.items() if k != "patient_id"}
    if e.event_name == "AssessmentRecorded":
        data |= {"assessment_id": str(uuid.uuid5(uuid.NAMESPACE_URL, e.event_id)), "item_scores": [1] * 9,
                 "band": "moderate", "max_total": 27, "loinc": "44261-6", "safety_item_positive": False}
    elif e.event_name == "SessionCompleted":
        data |= {"episode_id": e.stream_id, "duration_min": 50, "techniques": ["thought_record"],
                 "homework": ["activity_scheduling"]}
    elif e.event_name == "MedicationStarted":
        data |= {"dose": 50.0, "unit": "mg", "route": "oral", "schedule": {"as_needed": False, "times_per_day": 1},
                 "formulary": FORMULARY, "indication": None, "prescriber_id": "staff-1", "override_reason": None}
    elif e.event_name == "PatientEnrolled":
        data |= {"preferences": {"language": "en", "prefers_non_pharmacological_first": False}}
    return data


def unread(e: HistoryEvent) -> list[tuple[str, str, datetime, dict[str, Any]]]:
    """Timeline entries beside ``e`` that the registry does not read: each session scheduled the
    week before, each course's dose raised a month after it began, a care-plan review per decision."""
    if e.event_name == "SessionCompleted":
        return [("therapy", "SessionScheduled", e.occurred_at - timedelta(days=7),
                 {"session_id": e.payload["session_id"], "scheduled_at": e.occurred_at.isoformat()})]
    if e.event_name == "MedicationStarted":
        return [("pharmacy", "DoseAdjusted", e.occurred_at + timedelta(days=30),
                 {"medication_id": e.payload["medication_id"], "previous_dose": 50, "dose": 100, "unit": "mg",
                  "direction": "increase", "reason": "titration", "daily_dose": 100})]
    if e.event_name == "EscalationDecided":
        return [("coordination", "CarePlanReviewed", e.occurred_at + timedelta(days=14),
                 {"reason": "escalation_follow_up", "goals": ["symptom_reduction"]})]
    return []


COLUMNS = ("event_id", "patient_id", "clinic_id", "occurred_at", "recorded_at", "service", "type", "stream_id",
           "sequence", "summary", "data")


def timeline_rows(clinic: str, histories: list[tuple[str, list[HistoryEvent]]]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for pid, events in histories:
        sequence: Counter[tuple[str, str]] = Counter()

        def add(event_id: str, service: str, name: str, stream: str, at: datetime, recorded: datetime,
                data: dict[str, Any], pid: str = pid, sequence: Counter[tuple[str, str]] = sequence) -> None:
            sequence[(service, stream)] += 1
            rows.append((uuid.uuid5(uuid.NAMESPACE_URL, event_id), pid, clinic, at, recorded, service, name, stream,
                         sequence[(service, stream)], name, json.dumps(data, separators=(",", ":"))))

        for e in events:
            add(e.event_id, e.service, e.event_name, e.stream_id, e.occurred_at, e.recorded_at, coded(e))
            for n, (service, name, at, data) in enumerate(unread(e)):
                add(f"{e.event_id}-{n}", service, name, f"{service}-{pid}", at, at + timedelta(minutes=5), data)
    return rows


async def load(pool: asyncpg.Pool, clinics: dict[str, list[tuple[str, list[HistoryEvent]]]]) -> int:
    """Every clinic's histories into the directory and the timeline by COPY; the number of entries."""
    entries = 0
    async with pool.acquire() as conn:
        for clinic, found in clinics.items():
            await conn.copy_records_to_table("patient_directory", columns=("patient_id", "clinic_id", "enrolled_at"),
                                             records=[(pid, clinic, events[0].occurred_at) for pid, events in found])
            rows = timeline_rows(clinic, found)
            await conn.copy_records_to_table("timeline_entries", columns=COLUMNS, records=rows)
            entries += len(rows)
        await conn.execute("ANALYZE patient_directory; ANALYZE timeline_entries")
    return entries


@dataclass(frozen=True)
class EndToEnd:
    patients: int
    entries: int  # the whole timeline, both clinics
    load: float
    read: list[float]
    compute: list[float]

    @property
    def total(self) -> list[float]:
        return [r + c for r, c in zip(self.read, self.compute, strict=True)]


async def bench_end_to_end(pg_url: str, run_id: str, patients: int = 10_000, rounds: int = 3) -> EndToEnd:
    schema = f"bench_{run_id}_measures"
    histories_a = clinic_histories(patients)
    expected = in_memory(histories_a)
    pool = await create_pool(pg_url, schema, size=2)
    try:
        await migrate_read_models(pool)
        t = time.perf_counter()
        entries = await load(pool, {CLINIC: histories_a,
                                      OTHER_CLINIC: clinic_histories(patients // 2, seed=11, prefix="other")})
        loaded = time.perf_counter() - t
        progress(f"measures: {entries:,} timeline entries copied in {loaded:.1f} s")
        read, computed = [], []
        for r in range(rounds):
            t0 = time.perf_counter()
            found = await histories(pool, [CLINIC], AS_OF)
            t1 = time.perf_counter()
            result = compute(records_of(found, AS_OF), AS_OF, FIRST, LAST, [CLINIC])
            t2 = time.perf_counter()
            assert result == expected, "the measures from PostgreSQL differ from the in-memory ones"
            read.append(t1 - t0)
            computed.append(t2 - t1)
            progress(f"measures: round {r + 1}/{rounds}: read {t1 - t0:.2f} s, compute {t2 - t1:.2f} s")
        return EndToEnd(patients, entries, loaded, read, computed)
    finally:
        await pool.close()
        await drop_schemas(pg_url, [schema])


def render_end_to_end(b: EndToEnd) -> str:
    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s"

    rounds = ", ".join(f"{r:.2f}+{c:.2f}" for r, c in zip(b.read, b.compute, strict=True))
    return (f"quality measures end to end, one clinic of {b.patients:,} patients from PostgreSQL "
            f"({b.entries:,} timeline entries of two clinics, copied in {b.load:.1f} s): read {med(b.read)}, "
            f"compute {med(b.compute)}, total {med(b.total)} (medians; rounds read+compute [{rounds}] s)")


if __name__ == "__main__":
    print(render(bench_measures()))
    print(render_end_to_end(asyncio.run(bench_end_to_end(os.environ["CARECOORD_PG_URL"], new_run_id()))))
