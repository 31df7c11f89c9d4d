"""What every benchmark shares: sizes, realistic envelopes, progress lines, and the
interleaved-rounds runner that turns timed runs into medians."""

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
    """How much work one timed run does. ``writers`` concurrent tasks (or threads) share it."""

    rounds: int
    writers: int
    single_appends: int  # per writer, one event each
    batch_appends: int  # per writer, ``batch`` events each
    batch: int
    relay_events: int
    projection_events: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(rounds=5, writers=4, single_appends=300, batch_appends=60, batch=100,
                   relay_events=20_000, projection_events=40_000)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(rounds=3, writers=4, single_appends=75, batch_appends=10, batch=100,
                   relay_events=4_000, projection_events=4_000)


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

    @property
    def target(self) -> str:
        if self.min_rate is not None:
            return f">= {self.min_rate:,.0f} ev/s"
        if self.min_ratio is not None:
            return f"ratio >= {self.min_ratio:.1f}x"
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
