"""How long a clinic's quality measures take for 10,000 patients: the histories (about 20
events each, six months of care: questionnaires, sessions, medication starts and stops, team
decisions) are made in memory, then read into care records and measured for twelve months, as
``GET /v1/measures`` does after its timeline read (which this leaves out). Median of a few rounds."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.coordination.registry.measures import Month, compute
from services.coordination.registry.record import care_record
from services.coordination.rules import HistoryEvent

START = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
AS_OF = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)


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


def clinic_histories(patients: int, seed: int = 7) -> list[tuple[str, list[HistoryEvent]]]:
    rng = random.Random(seed)
    return [(f"bench-{n}", patient_history(rng, f"bench-{n}")) for n in range(patients)]


@dataclass(frozen=True)
class MeasuresBench:
    patients: int
    events: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def bench_measures(patients: int = 10_000, rounds: int = 3) -> MeasuresBench:
    histories = clinic_histories(patients)
    seconds = []
    for _ in range(rounds):
        t = time.perf_counter()
        records = [r for pid, events in histories if (r := care_record(pid, "clinic-a", events, AS_OF)) is not None]
        result = compute(records, AS_OF, Month(2025, 7), Month(2026, 6), ["clinic-a"])
        seconds.append(time.perf_counter() - t)
        assert result.cell("clinic-a", "2025-07", "follow_up_4w").denominator  # it measured something
    return MeasuresBench(patients, sum(len(e) for _, e in histories), seconds)


def render(b: MeasuresBench) -> str:
    rounds = ", ".join(f"{s:.2f}" for s in b.seconds)
    return (f"quality measures of one clinic: {b.patients:,} patients ({b.events:,} events), 12 months, "
            f"8 measures: {b.median:.2f} s (median of [{rounds}] s; the timeline read not included)")


if __name__ == "__main__":
    print(render(bench_measures()))
