"""What every benchmark shares: sizes, realistic envelopes, progress lines, the
interleaved-rounds runner that turns timed runs into medians, and the goal lines of issue 15
(:class:`Goal`) that each part reports and ``make bench`` prints together at the end."""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.db import plain_dsn
from shared.envelope import Envelope

SERVICE = "pharmacy"
EVENT_TYPE = "carecoord.pharmacy.DoseAdjusted.v1"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Sizes:
    """How much work one timed run does. ``writers`` concurrent tasks (or threads) share it;
    single-event appends are also run with ``many_writers``, each doing ``many_single_appends``."""

    rounds: int
    writers: int
    single_appends: int  # per writer, one event each
    batch_appends: int  # per writer, ``batch`` events each
    batch: int
    relay_events: int
    projection_events: int
    many_writers: int = 16
    many_single_appends: int = 50  # per writer of ``many_writers``
    coordination_patients: int = 250  # ~23 events each on coordination's four input topics

    @classmethod
    def full(cls) -> Sizes:
        # Sized so that the kernel part takes about two minutes of make bench's six.
        return cls(rounds=3, writers=4, single_appends=120, batch_appends=20, batch=100,
                   relay_events=8_000, projection_events=12_000, many_writers=16, many_single_appends=30,
                   coordination_patients=150)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(rounds=3, writers=4, single_appends=60, batch_appends=8, batch=100,
                   relay_events=3_000, projection_events=4_000, many_writers=16, many_single_appends=15,
                   coordination_patients=80)


@dataclass(frozen=True)
class Goal:
    """One goal line of issue 15 as measured: what, the measured value against its target, met or not.
    ``met`` is None where the issue asks for a number without a bar (the open-loop latencies)."""

    part: str  # "kernel", "pharmacy 1 worker", "latency 500/s", ...
    line: str
    measured: str
    target: str
    met: bool | None

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("yes" if self.met else "NO")


def markdown_table(head: Sequence[str], body: Sequence[Sequence[str]], right: set[int]) -> str:
    """A Markdown table padded to line up in a terminal; columns in ``right`` right-aligned."""
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), rule, *(line(r) for r in body)])


def goals_table(goals: Sequence[Goal]) -> str:
    return markdown_table(["part", "goal", "measured", "target", "met"],
                          [[g.part, g.line, g.measured, g.target, g.verdict] for g in goals], {2})


@dataclass(frozen=True)
class BenchEnv:
    pg_url: str
    kafka: str
    run_id: str  # random; prefixes every schema and topic this run creates
    sizes: Sizes

    def schema(self, part: str) -> str:
        return f"bench_{self.run_id}_{part}"

    def topic(self, part: str) -> str:
        return f"bench{self.run_id}.{part}"


@dataclass
class Comparison:
    """One line of the result table: medians of interleaved rounds."""

    metric: str
    ours: list[float]
    baseline_name: str
    baseline: list[float]
    min_rate: float | None = None  # target: ours at least this many events per second
    min_ratio: float | None = None  # target: ours / baseline at least this
    goal: str | None = None  # the issue's wording of the line, where it is one of issue 15's goals

    @property
    def target(self) -> str:
        if self.min_rate is not None:
            return f">= {self.min_rate:,.0f} ev/s"
        if self.min_ratio is not None:
            return f">= {self.min_ratio:.1f}x"
        return ""

    @property
    def meets(self) -> bool | None:
        if self.min_rate is not None:
            return self.ours_median >= self.min_rate
        if self.min_ratio is not None:
            return self.ratio >= self.min_ratio
        return None

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def ratio(self) -> float:
        return self.ours_median / self.baseline_median if self.baseline_median else float("nan")

    def as_goal(self) -> Goal | None:
        if self.goal is None:
            return None
        return Goal("kernel", self.goal, f"{self.ratio:.2f}x ({self.ours_median:,.0f} / {self.baseline_median:,.0f})",
                    self.target, self.meets)


def progress(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else float("inf")


# --------------------------------------------------------------------------- events


def payload(i: int) -> dict[str, object]:
    """A dose adjustment as pharmacy records it (~300 bytes of JSON)."""
    return {
        "occurred_at": (T0 + timedelta(seconds=i)).isoformat(),
        "course_id": str(uuid.UUID(int=i + 1)),
        "medication": "sertraline",
        "atc_code": "N06AB06",
        "previous_dose_mg": 50,
        "dose_mg": 100,
        "unit": "mg",
        "route": "oral",
        "frequency": "once daily",
        "reason": "titration",
        "prescriber_id": "staff-0042",
    }


def envelopes(stream_id: str, subject: str, count: int, start: int = 0) -> list[Envelope]:
    """``count`` new events of one stream with the metadata a real command gives them
    (actor, correlation id, W3C traceparent of the request)."""
    out = []
    trace_id = uuid.uuid4().hex
    correlation = str(uuid.uuid4())
    for i in range(start, start + count):
        out.append(Envelope(
            id=uuid.uuid4(),
            source=f"/carecoord/{SERVICE}",
            type=EVENT_TYPE,
            subject=subject,
            time=T0 + timedelta(seconds=i),
            clinic_id="clinic-07",
            stream_id=stream_id,
            payload=payload(i),
            correlation_id=correlation,
            actor="staff-0042",
            traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
        ))
    return out


def patient(i: int) -> str:
    return f"pat-{i % 500:06d}"


# --------------------------------------------------------------------------- rounds

Timed = Callable[[int], Awaitable[float]]  # run number → events per second


async def interleaved(label: str, sides: Sequence[tuple[str, Timed]], rounds: int) -> dict[str, list[float]]:
    """Warm every side up once (run number 0, not reported), then run ``rounds`` rounds
    with the sides in alternating order (A B C, C B A, ...) so drift on a shared machine
    (autovacuum, page cache, a noisy neighbour) does not favour one side."""
    results: dict[str, list[float]] = {name: [] for name, _ in sides}
    for name, run in sides:
        t0 = time.perf_counter()
        await run(0)
        progress(f"{label}: warmed up {name} ({time.perf_counter() - t0:.1f} s)")
    for r in range(1, rounds + 1):
        order = list(sides) if r % 2 else list(reversed(sides))
        line = []
        for name, run in order:
            value = await run(r)
            results[name].append(value)
            line.append(f"{name} {value:,.0f}")
        progress(f"{label}: round {r}/{rounds}: " + ", ".join(line) + " ev/s")
    return results


async def drop_schemas(pg_url: str, schemas: Sequence[str]) -> None:
    conn = await asyncpg.connect(plain_dsn(pg_url))
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
