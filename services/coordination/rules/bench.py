"""How fast ``evaluate`` is on long histories: ``python -m services.coordination.rules.bench``.

The projection evaluates one patient on every batch, so the cost must grow about linearly
with the history: one sort, one pass building facts, then each rule over its own facts.
:func:`synthetic_history` is pure (a seeded generator); only :func:`main` reads a clock, and
nothing in the engine imports this module.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import load_config
from .engine import evaluate
from .history import HistoryEvent

_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_ATC = ["N06AB06", "N06AX11", "N02BE01", "M01AE01", "N03AX16", "N05AH04", "N05BA01", "N02AA05", "N02AX02"]


def synthetic_history(n_events: int, patient_id: str = "bench-patient", seed: int = 1) -> list[HistoryEvent]:
    """About ``n_events`` events of one patient: weekly sessions, monthly scores, medication changes."""
    rng = random.Random(seed)
    out: list[HistoryEvent] = []

    def add(service: str, name: str, at: datetime, stream: str, **payload: Any) -> None:
        late = timedelta(days=rng.choice((0, 0, 0, 3))) + timedelta(minutes=5)  # some recorded late
        out.append(HistoryEvent(f"{seed}-{len(out)}", service, name, at, at + late, stream,
                                {"patient_id": patient_id, "occurred_at": at.isoformat(), **payload}))

    add("therapy", "TherapyEpisodeStarted", _START, "ep", episode_id="ep", modality="cbt", care_step=1)
    courses: list[str] = []
    for week in range(10**6):
        if len(out) >= n_events:
            break
        at = _START + timedelta(weeks=week)
        outcome = rng.choice(("SessionCompleted", "SessionCompleted", "SessionMissed"))
        add("therapy", outcome, at, "ep", episode_id="ep", session_id=f"s{week}", duration_min=50)
        if week % 4 == 0:
            items = [rng.randint(0, 3) for _ in range(9)]
            add("assessment", "AssessmentRecorded", at, "pr", instrument="PHQ-9", item_scores=items,
                total=sum(items), safety_item_positive=items[8] > 0)
        roll = rng.random()
        if roll < 0.2 or not courses:
            course, atc = f"c{week}", rng.choice(_ATC)
            courses.append(course)
            add("pharmacy", "MedicationStarted", at, course, medication_id=course,
                drug={"code": atc, "system": "ATC", "name": "x"},
                formulary={"atc": atc, "therapeutic_class": atc[:5], "opioid": atc.startswith("N02A"),
                           "benzodiazepine": atc.startswith("N05BA"), "serotonergic": atc.startswith("N06")})
        elif roll < 0.35:
            add("pharmacy", "DoseAdjusted", at, (c := rng.choice(courses)), medication_id=c, direction="increase")
        elif roll < 0.45 and len(courses) > 3:
            c = courses.pop(rng.randrange(len(courses)))
            add("pharmacy", "MedicationDiscontinued", at, c, medication_id=c)
        elif roll < 0.5:
            add("assessment", "LifeCircumstanceChanged", at, "pr", category="housing", direction="worsened",
                impact="high")
        elif roll < 0.55:
            add("coordination", "EscalationDecided", at, "cp", due_by=(at + timedelta(days=14)).isoformat())
        elif roll < 0.6:
            add("coordination", "CarePlanReviewed", at, "cp")
    return out


def main(argv: list[str]) -> None:
    config = load_config().for_clinic(None)
    for n in [int(a) for a in argv] or [100, 1_000, 10_000]:
        history = synthetic_history(n)
        as_of = max(e.recorded_at for e in history)
        began = time.perf_counter()
        rounds = max(1, 20_000 // n)
        for _ in range(rounds):
            found = evaluate(history, as_of, config)
        per_call = (time.perf_counter() - began) / rounds
        print(f"{len(history):>7} events: {per_call * 1000:8.2f} ms per evaluate, "
              f"{len(history) / per_call:>10,.0f} events/s, {len(found)} flags")


if __name__ == "__main__":
    main(sys.argv[1:])
