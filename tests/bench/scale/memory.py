"""Memory: the resident set of service processes (from /proc), and what each service's state
cache holds at its bound (tracemalloc, in this process).

The cache is filled the way commands fill it: each stream's rows are JSON-parsed (as
``row_to_envelope`` does), decoded by the service's registry and folded by its decider, and
only the folded state stays, in the handler's own ``StateCache`` up to its bound.
"""

from __future__ import annotations

import gc
import json
import os
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from services.assessment import handlers as assessment
from services.coordination import handlers as coordination
from services.pharmacy.formulary import load_formulary
from services.pharmacy.handlers import command_handler as pharmacy_handler
from services.therapy import handlers as therapy
from shared.envelope import Envelope
from shared.eventstore.memory import InMemoryEventStore
from shared.handler import CommandHandler, Loaded
from tests.bench.coordination import patient_streams
from tests.bench.scale.rows import COURSE_MARK, PATIENT_MARK, SERVICE, CourseTemplate, course_ids, stream_of


def rss_bytes(pid: int, proc: Path = Path("/proc")) -> int:
    """Resident set of ``pid`` and its descendants (a service that forks workers counts whole)."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += vm_rss(proc / str(current) / "status")
        todo += children.get(current, [])
    return total


def vm_rss(status: Path) -> int:
    """VmRSS of one /proc/<pid>/status file in bytes (0 when the process is gone)."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class CacheFootprint:
    service: str
    bound: int  # the handler's StateCache size
    sampled: int  # states measured (tracemalloc slows decoding several times, so a sample)
    events_per_stream: float
    bytes_sampled: int  # traced bytes the sampled states hold in the cache

    @property
    def per_state(self) -> float:
        return self.bytes_sampled / self.sampled

    @property
    def at_bound(self) -> float:
        """States are independent of each other, so the full cache holds ``bound`` of them."""
        return self.per_state * self.bound


def _fresh(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with strings of its own, as json.loads gives each row read."""
    parsed: dict[str, Any] = json.loads(json.dumps(payload))
    return parsed


def pharmacy_streams(count: int) -> Iterator[tuple[str, list[Envelope]]]:
    """10-event courses whose payloads are parsed from JSON text, as rows are read."""
    template = CourseTemplate.make(10, load_formulary())
    base = _synthetic_envelope()
    for k in range(count):
        patient, medication = course_ids(k)
        envelopes = [replace(base, id=uuid.uuid4(), stream_id=stream_of(medication), subject=patient,
                             type=_type_of(type_source), stream_version=n,
                             payload=json.loads(text.replace(PATIENT_MARK, patient).replace(COURSE_MARK, medication)))
                     for n, (type_source, _, text) in enumerate(template.events, start=1)]
        yield stream_of(medication), envelopes


def _type_of(field: bytes) -> str:
    """The event type from a template's encoded (type, source) fields."""
    length = int.from_bytes(field[:4], "big")
    return field[4:4 + length].decode()


def _synthetic_envelope() -> Envelope:
    from datetime import UTC, datetime

    return Envelope(id=uuid.uuid4(), source=f"/carecoord/{SERVICE}", type="", subject="", clinic_id="bench-clinic",
                    time=datetime(2026, 1, 5, tzinfo=UTC), stream_id="", payload={})


def service_streams(service: str, count: int) -> Iterator[tuple[str, list[Envelope]]]:
    """Streams of ``service`` from the bench cohort (tests/bench/coordination.py), one a patient."""
    import random

    rng = random.Random(11)
    for _ in range(count):
        pid = str(uuid.UUID(int=rng.getrandbits(128)))
        for s in patient_streams(pid, "bench-clinic", rng):
            if s.service == service:
                yield s.stream_id, [replace(e, payload=_fresh(e.payload)) for e in s.events]


def footprint(service: str, handler: CommandHandler[Any, Any],
              streams: Callable[[int], Iterator[tuple[str, list[Envelope]]]], sample: int) -> CacheFootprint:
    bound = handler.cache.size
    sample = min(sample, bound)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        events = 0
        for stream_id, envelopes in streams(sample):
            state = handler.decider.fold(handler.decode(envelopes))
            handler.cache.put(stream_id, Loaded(state, len(envelopes)))
            events += len(envelopes)
        del envelopes, state
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return CacheFootprint(service, bound, len(handler.cache), events / max(1, len(handler.cache)), held)


def cache_footprints(sample: int) -> list[CacheFootprint]:
    store = InMemoryEventStore()
    return [
        footprint("pharmacy", pharmacy_handler(store, load_formulary()), pharmacy_streams, sample),
        footprint("therapy", therapy.command_handler(store), lambda n: service_streams("therapy", n), sample),
        footprint("assessment", assessment.command_handler(store), lambda n: service_streams("assessment", n),
                  sample),
        footprint("coordination", coordination.command_handler(store),
                  lambda n: service_streams("coordination", n), sample),
    ]


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def own_rss() -> int:
    return rss_bytes(os.getpid())
