"""Loading a cohort: the anchor its times hang on, the patients' requests, and the wait for the
coordination service to have seen them.

The anchor (midnight UTC of the day of the first load) is kept in the marker file with the
cohort and its patient ids. A second run reuses it, so every request is byte for byte the
first one and its Idempotency-Key replays the first answer: nothing new is recorded. Without
the marker (deleted, or another machine against the same services) the anchor is read back
from the first patient's first medication course, whose enrolment then replays.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .chart import Chart
from .client import Api, LoadError
from .cohort import Cohort

Advance = Callable[[int], None]


@dataclass
class Loaded:
    anchor: datetime
    patient_ids: dict[int, str] = field(default_factory=dict)  # chart number -> patient id
    recorded: int = 0  # requests that recorded an event now
    replayed: int = 0  # requests answered from an earlier run (Idempotency-Key)
    failures: dict[int, str] = field(default_factory=dict)  # chart number -> reason

    @property
    def complete(self) -> bool:
        return not self.failures


def fresh_anchor(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def read_marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(path: Path, cohort: Cohort, loaded: Loaded) -> None:
    manifest = {name: [{"number": m.number, "patient_id": loaded.patient_ids.get(m.number), "clinic": m.clinic,
                        "display_name": m.display_name, "variant": m.variant, "rule": m.rule} for m in members]
                for name, members in cohort.manifest().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cohort": cohort.tag, "seed": cohort.seed, "patients": len(cohort.members),
                                "clinics": list(cohort.clinics), "anchor": loaded.anchor.isoformat(),
                                "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                "manifest": manifest}, indent=2) + "\n", encoding="utf-8")


def _key(cohort: Cohort, chart: Chart, step_key: str) -> str:
    return f"{cohort.tag}:p{chart.number:03d}:{step_key}"


async def choose_anchor(api: Api, cohort: Cohort, marker: dict[str, Any] | None) -> tuple[datetime, set[str]]:
    """The anchor, and the keys of requests this made that recorded something (the first
    patient's enrolment, when no earlier run made it)."""
    if marker and marker.get("cohort") == cohort.tag and marker.get("anchor"):
        return datetime.fromisoformat(marker["anchor"]), set()
    chart = cohort.charts[0]
    enrol = chart.ordered()[0]
    key = _key(cohort, chart, enrol.key)
    answer = await api.post("assessment", enrol.path, enrol.rendered(fresh_anchor()), key, chart.clinic)
    first = next((s for s in chart.ordered() if s.event == "MedicationStarted"), None)
    if not answer.replayed:
        return fresh_anchor(), {key}
    courses = await api.get("pharmacy", f"/v1/patients/{answer.body['patient_id']}/medications")
    started = sorted(datetime.fromisoformat(c["started_at"]) for c in courses.body)
    if first is None or not started:  # an earlier run stopped before this patient's first course
        return fresh_anchor(), set()
    return started[0].astimezone(UTC) - timedelta(minutes=first.when.minutes), set()


async def load_cohort(api: Api, cohort: Cohort, anchor: datetime, advance: Advance, patients_at_once: int = 12,
                      recorded_before: frozenset[str] = frozenset()) -> Loaded:
    """Every chart, ``patients_at_once`` at a time, each chart's steps one after another;
    ``recorded_before``: keys this run recorded already (their replay is not an earlier run's)."""
    loaded = Loaded(anchor)
    slots = asyncio.Semaphore(patients_at_once)

    async def one(chart: Chart) -> None:
        async with slots:
            steps = chart.ordered()
            ids: dict[str, str] = {}
            for done, step in enumerate(steps):
                key = _key(cohort, chart, step.key)
                try:
                    answer = await api.post(step.service, step.path.format(**ids), step.rendered(anchor), key,
                                            chart.clinic)
                except LoadError as exc:
                    loaded.failures[chart.number] = f"{step.event}: {exc}"
                    advance(len(steps) - done)
                    return
                if answer.replayed and key not in recorded_before:
                    loaded.replayed += 1
                else:
                    loaded.recorded += 1
                if step.saves:
                    ids[step.saves[0]] = str(answer.body[step.saves[1]])
                    if step.saves[0] == "patient":
                        loaded.patient_ids[chart.number] = ids["patient"]
                advance(1)

    await asyncio.gather(*(one(chart) for chart in cohort.charts))
    return loaded


async def settle(api: Api, cohort: Cohort, loaded: Loaded, timeout: float) -> bool:
    """Until coordination's summary of every loaded patient counts all of its events (its
    flags are evaluated in the same transaction); False when ``timeout`` passes first."""
    expected = {loaded.patient_ids[c.number]: len(c.steps) for c in cohort.charts
                if c.number in loaded.patient_ids and c.number not in loaded.failures}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while expected:
        answers = await asyncio.gather(*(api.get("coordination", f"/v1/patients/{pid}/summary", retry_missing=False)
                                         for pid in expected))
        for (pid, count), answer in zip(list(expected.items()), answers, strict=True):
            if answer.status == 200 and answer.body.get("event_count", 0) >= count:
                del expected[pid]
        if expected:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(1.0)
    return True


async def open_flags(api: Api) -> dict[str, int] | None:
    """Unresolved flags of the cohort's clinics by rule; None where coordination has no flags
    endpoint (404)."""
    counts: dict[str, int] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        answer = await api.get("coordination", "/v1/flags", params, retry_missing=False)
        if answer.status == 404:
            return None
        for flag in answer.body["flags"]:
            counts[flag["rule_id"]] = counts.get(flag["rule_id"], 0) + 1
        cursor = answer.body.get("next_cursor")
        if not cursor:
            return counts
