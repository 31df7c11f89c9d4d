"""How a consumer is doing, for ``/ready`` and for operators: alive, failing, stuck, lag.

A consumer that dies or keeps failing leaves the read models it feeds silently stale (a
patient unknown to pharmacy, say). Readiness must say so; the runner records here what it
saw and the service reports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

Status = Literal["ok", "failing", "stuck", "dead"]
Phase = Literal["start", "batch", "dead_letter"]

# Failing for longer than this (or one batch taking longer) is "stuck": not ready.
DEFAULT_STUCK_AFTER = 30.0


@dataclass
class ConsumerHealth:
    """What a runner knows about itself; mutated only by the runner's own task."""

    alive: bool = False
    last_batch_at: datetime | None = None
    last_error_type: str | None = None
    failing_since: float | None = None  # monotonic; None while healthy
    failing_phase: Phase | None = None
    batch_started: float | None = None  # monotonic; None between batches
    held_back: int = 0  # events parked behind a gap in their stream
    _clock: Any = field(default=time.monotonic, repr=False)

    def started(self) -> None:
        self.alive = True

    def stopped(self) -> None:
        self.alive = False
        self.batch_started = None

    def failed(self, exc: BaseException, phase: Phase) -> None:
        self.last_error_type = type(exc).__name__
        if self.failing_since is None:
            self.failing_since = self._clock()
        self.failing_phase = phase

    def batch_begins(self) -> None:
        self.batch_started = self._clock()

    def batch_done(self) -> None:
        """A batch committed: whatever was failing works again."""
        self.batch_started = None
        self.last_batch_at = datetime.now(UTC)
        self.failing_since = None
        self.failing_phase = None

    def caught_up(self) -> None:
        """Every assigned partition is read to its end and nothing failed since: whatever
        was failing (a start, a batch since handed to another instance) is over."""
        self.failing_since = None
        self.failing_phase = None

    def status(self, stuck_after: float = DEFAULT_STUCK_AFTER) -> Status:
        if not self.alive:
            return "dead"
        now = self._clock()
        if self.failing_since is not None:
            return "stuck" if now - self.failing_since > stuck_after else "failing"
        if self.batch_started is not None and now - self.batch_started > stuck_after:
            return "stuck"
        return "ok"


@dataclass(frozen=True)
class ConsumerReport:
    """One consumer's entry in ``/ready``: names, status and lag; no payloads, no ids."""

    projection: str
    group: str
    status: Status
    lag: int | None  # records not yet processed, summed over partitions; None if unknown
    lag_by_partition: dict[str, int]
    last_batch_at: datetime | None
    last_error_type: str | None
    held_back: int
    # Cumulative counts since the process started, for /metrics (not part of /ready's body).
    applied: int = 0
    dead_lettered: int = 0

    @property
    def ready(self) -> bool:
        return self.status in ("ok", "failing")

    def as_json(self) -> dict[str, Any]:
        return {
            "projection": self.projection,
            "group": self.group,
            "status": self.status,
            "lag": self.lag,
            "lag_by_partition": self.lag_by_partition,
            "last_batch_at": self.last_batch_at.isoformat() if self.last_batch_at else None,
            "last_error_type": self.last_error_type,
            "held_back": self.held_back,
        }


class MonitoredConsumer(Protocol):
    """Anything ``/ready`` can ask how it is doing (a projection runner)."""

    async def report(self) -> ConsumerReport: ...


async def consumer_lag(consumer: AIOKafkaConsumer | None, done: dict[TopicPartition, int]) -> dict[str, int] | None:
    """Per assigned partition, the end offset minus the next offset to process: ``done``
    (what this consumer committed), else the group's committed offset, else the start.
    Not the fetch position: fetched records still failing to apply are lag."""
    if consumer is None:
        return None
    tps = sorted(consumer.assignment())
    if not tps:
        return {}
    end = await consumer.end_offsets(tps)
    out = {}
    for tp in tps:
        next_offset = done.get(tp)
        if next_offset is None:
            committed = await consumer.committed(tp)
            next_offset = committed if committed is not None else (await consumer.beginning_offsets([tp]))[tp]
        out[f"{tp.topic}/{tp.partition}"] = max(0, end[tp] - next_offset)
    return out
