"""Command latency with a cold state cache, by stream length.

Pharmacy courses of 10, 100, 1,000 and 10,000 events are appended through the kernel's own
``PostgresEventStore.append`` (batches of 1,000, hash chain and outbox included). Each sample
is one dose adjustment through a new ``CommandHandler`` (pharmacy's, so its state cache is
empty): read the whole stream, decode and fold it, decide, append. PostgreSQL's own buffers
stay warm: "cold" is the service's cache only, as after a restart or an eviction.

Beside the command, the same stream is read, decoded and folded step by step: what a
snapshot of the folded state would save is the fold's share (read, decode, evolve), less
the cost of reading the snapshot itself.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta

from services.pharmacy.domain import AdjustDose
from services.pharmacy.formulary import Formulary, load_formulary
from services.pharmacy.handlers import command_handler
from shared.envelope import Metadata, new_envelope
from shared.eventstore import PostgresEventStore
from tests.bench.common import progress
from tests.bench.scale.rows import CLINIC, COURSE_START, SERVICE, course_events, course_ids, percentile, stream_of

LENGTHS = (10, 100, 1_000, 10_000)
APPEND_BATCH = 1_000


@dataclass(frozen=True)
class ColdSizes:
    streams: dict[int, int]  # stream length -> how many streams of it
    repeats: int  # cold commands per stream (each adds one event)

    @classmethod
    def full(cls) -> ColdSizes:
        return cls({10: 20, 100: 20, 1_000: 8, 10_000: 4}, repeats=3)

    @classmethod
    def quick(cls) -> ColdSizes:
        return cls({10: 5, 100: 5, 1_000: 2, 10_000: 1}, repeats=2)


@dataclass
class ColdLine:
    length: int
    streams: int
    command_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    decode_ms: list[float] = field(default_factory=list)
    fold_ms: list[float] = field(default_factory=list)

    def p(self, values: list[float], q: float) -> float:
        return percentile(values, q)

    @property
    def rebuild_ms(self) -> float:
        """Median time to read, decode and fold the stream: what a command spends before deciding."""
        return statistics.median(r + d + f for r, d, f in zip(self.read_ms, self.decode_ms, self.fold_ms,
                                                              strict=True))


async def seed(store: PostgresEventStore, formulary: Formulary, length: int, k: int) -> tuple[str, str]:
    """One course of ``length`` events (course number ``k``) appended in batches."""
    patient, medication = course_ids(k)
    stream = stream_of(medication)
    envelopes = [new_envelope(SERVICE, stream, e, subject=patient, clinic_id=CLINIC,
                              metadata=Metadata(actor="staff-0042"))
                 for e in course_events(length, patient, medication, formulary)]
    for start in range(0, len(envelopes), APPEND_BATCH):
        await store.append(stream, start, envelopes[start:start + APPEND_BATCH])
    return patient, medication


async def measure(store: PostgresEventStore, sizes: ColdSizes, first_course: int) -> list[ColdLine]:
    formulary = load_formulary()
    lines: list[ColdLine] = []
    k = first_course
    for length in LENGTHS:
        count = sizes.streams[length]
        line = ColdLine(length, count)
        courses = []
        t0 = time.perf_counter()
        for _ in range(count):
            courses.append(await seed(store, formulary, length, k))
            k += 1
        progress(f"cold cache: {count} courses of {length:,} events appended in {time.perf_counter() - t0:.1f} s")
        for rep in range(sizes.repeats):
            for patient, medication in courses:
                handler = command_handler(store, formulary)  # a new handler: an empty state cache
                stream = stream_of(medication)
                command = AdjustDose(patient_id=patient, medication_id=medication, dose=(75, 25)[rep % 2], unit="mg",
                                     reason="titration", prescriber_id="staff-0042",
                                     effective_at=COURSE_START + timedelta(days=length + rep))
                t0 = time.perf_counter()
                await handler.execute(stream, command, subject=patient, clinic_id=CLINIC,
                                      metadata=Metadata(actor="staff-0042"))
                line.command_ms.append((time.perf_counter() - t0) * 1000)
                # The same work, step by step, on a handler that is cold again.
                handler = command_handler(store, formulary)
                t0 = time.perf_counter()
                stored = await store.read_stream(stream)
                t1 = time.perf_counter()
                decoded = handler.decode(stored)
                t2 = time.perf_counter()
                handler.decider.fold(decoded)
                t3 = time.perf_counter()
                line.read_ms.append((t1 - t0) * 1000)
                line.decode_ms.append((t2 - t1) * 1000)
                line.fold_ms.append((t3 - t2) * 1000)
        progress(f"cold cache: {length:,} events: command p50 {line.p(line.command_ms, 50):.1f} ms, "
                 f"p99 {line.p(line.command_ms, 99):.1f} ms")
        lines.append(line)
    return lines
