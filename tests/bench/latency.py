"""Open-loop latency of a command, end to end: ``POST …/dose-adjustments`` at a fixed arrival
rate (200, 500 and 1,000 a second), each timed from its *scheduled* send time to its HTTP
answer, to its ``DoseAdjusted`` record on pharmacy's topic, and to its entry in coordination's
timeline (issue 15).

Open loop: request ``i`` of a rate is due at ``start + i / rate`` and is sent then whether or
not earlier ones have been answered; a request the client could not send on time (no free
connection, the client's own CPU late) still counts from its scheduled time, so a stalled
server shows as latency instead of as fewer requests (no coordinated omission). How many were
sent more than ``LATE_MS`` late, how many failed and the rate actually achieved are reported:
on a 2-core machine that PostgreSQL, Kafka and the services share, 1,000 a second may not be
reachable.

Assessment, pharmacy (``processes`` worker processes, with ``carecoord serve --workers`` where
it exists) and coordination run as processes, as ``make up`` runs them, in schemas and a topic
namespace of this run. Setup (not timed): patients enrolled, one course each, coordination
knows every course. Each request carries a fresh ``X-Correlation-Id``, which the event keeps
(``ce_correlationid``): a consumer of pharmacy's topic (started before the load, reading from
the end) matches records to requests by it and notes the record's stream and sequence; the
timeline entry is seen through ``LISTEN``: a trigger on coordination's ``timeline_entries`` in
this run's schema (a probe of the bench, not of the service) sends the entry's stream and
sequence with ``pg_notify``, which PostgreSQL delivers when the projection's transaction
commits, i.e. when a reader of the timeline can see it. A course has at most one request in
flight (its dose changes must stay in order), so each request goes to the next course that has
none.

Standalone: ``python -m tests.bench.latency [--quick] [--rates 200 500 1000]`` with the stack's
environment (``make bench`` runs it after the HTTP tables; ``--only latency`` alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from shared.auth import issue_token
from shared.kafka.security import client_security
from tests.bench.common import Goal, goals_table, markdown_table, progress
from tests.bench.http_pharmacy import (
    CLINIC,
    COURSE_START,
    DOSE_ADJUSTED,
    TRANSPORT_ERRORS,
    CourseRef,
    RawConnection,
    Service,
    cleanup,
    connect,
    cpu_window,
    enroll,
    serve_has_workers,
    service_env,
    start_courses,
    start_service,
    stop_services,
    wait_directory,
    wait_ready,
)

NAMES = ("assessment", "pharmacy", "coordination")
RATES = (200.0, 500.0, 1000.0)
LATE_MS = 10.0  # a request sent more than this after its scheduled time was sent late
MAX_CONNECTIONS = 256  # the client opens more connections as answers lag, up to this
SEND_LIMIT = 2.0  # seconds: a request that would wait longer than this for a connection or course is not sent
ANSWER_LIMIT = 10.0  # seconds: a request unanswered this long after it was sent has failed


@dataclass
class Sample:
    scheduled: float  # perf_counter time the request was due
    sent: float = 0.0
    answered: float | None = None
    error: str | None = None  # status or exception of a request that failed
    key: tuple[str, int] | None = None  # (stream, sequence) of its event, from the topic
    on_topic: float | None = None
    in_timeline: float | None = None


@dataclass
class RateResult:
    rate: float
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    last_sent: float = 0.0  # when the last request was actually written, from the first's schedule
    waited: float = 0.0  # seconds after the load until every accepted command was seen (or gave up)
    cpu: dict[str, float] = field(default_factory=dict)  # service -> share of one core during the load
    machine_busy: float = 0.0
    connections: int = 0  # connections the client had open at the end

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.answered is not None and s.error is None]

    @property
    def failed(self) -> Counter[str]:
        return Counter(s.error for s in self.samples if s.error is not None)

    @property
    def late(self) -> list[float]:
        delays = [(s.sent - s.scheduled) * 1000 for s in self.samples if s.sent]
        return [d for d in delays if d > LATE_MS]

    @property
    def achieved(self) -> float:
        """Requests sent a second, from the first scheduled time to the last one sent."""
        sent = sum(1 for s in self.samples if s.sent)
        return sent / self.last_sent if self.last_sent > 0 else 0.0

    def latencies(self, path: str) -> list[float]:
        """Milliseconds from the scheduled time to ``path`` of every scheduled request, infinite
        for one that never got there (not sent, failed, not seen): percentiles of all that were
        due, so that what the machine could not do shows instead of being left out."""
        ends = {"http": lambda s: s.answered, "topic": lambda s: s.on_topic, "timeline": lambda s: s.in_timeline}[path]
        return [(end - s.scheduled) * 1000 if s.error is None and (end := ends(s)) is not None else float("inf")
                for s in self.samples]

    def reached(self, path: str) -> int:
        return sum(1 for v in self.latencies(path) if v != float("inf"))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of all values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


# --------------------------------------------------------------------------- probes


async def watch_topic(bootstrap: str, topic: str, by_correlation: dict[str, Sample], stop: asyncio.Event,
                      assigned: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(topic, **client_security(), bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", fetch_max_wait_ms=20)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            if consumer.assignment():
                assigned.set()
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    h = {k: v for k, v in r.headers}
                    if h.get("ce_type") != DOSE_ADJUSTED:
                        continue
                    sample = by_correlation.get(h.get("ce_correlationid", b"").decode())
                    if sample is not None and sample.on_topic is None:
                        sample.on_topic = now
                        sample.key = (h["ce_streamid"].decode(), int(h["ce_sequence"]))
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # a fetcher still backing off
            await consumer.stop()


def probe_sql(channel: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION bench_timeline_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{channel}', NEW.stream_id || ' ' || NEW.sequence);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_timeline_probe AFTER INSERT ON timeline_entries
    FOR EACH ROW EXECUTE FUNCTION bench_timeline_probe();
"""


async def listen_timeline(conn: asyncpg.Connection, channel: str, seen: dict[tuple[str, int], float]) -> None:
    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        stream, _, sequence = payload.rpartition(" ")
        seen.setdefault((stream, int(sequence)), time.perf_counter())

    await conn.add_listener(channel, on_notify)


# --------------------------------------------------------------------------- load


class Courses:
    """Round-robin over the courses, skipping those with a request in flight."""

    def __init__(self, refs: list[CourseRef]) -> None:
        self.free: asyncio.Queue[CourseRef] = asyncio.Queue()
        for ref in refs:
            self.free.put_nowait(ref)

    async def take(self) -> CourseRef:
        return await self.free.get()

    def give_back(self, ref: CourseRef) -> None:
        self.free.put_nowait(ref)


class Connections:
    """Idle keep-alive connections, opened as needed up to ``MAX_CONNECTIONS``."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.idle: list[RawConnection] = []
        self.opened = 0
        self.gate = asyncio.Semaphore(MAX_CONNECTIONS)

    async def acquire(self) -> RawConnection:
        await self.gate.acquire()
        if self.idle:
            return self.idle.pop()
        self.opened += 1
        return RawConnection("127.0.0.1", self.port, {"Authorization": f"Bearer {self.token}"})

    def release(self, conn: RawConnection) -> None:
        self.idle.append(conn)  # one that failed has closed itself and connects again when used
        self.gate.release()

    @contextlib.asynccontextmanager
    async def one(self) -> AsyncIterator[RawConnection]:
        conn = await self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)

    async def close(self) -> None:
        for conn in self.idle:
            await conn.close()
        self.idle.clear()


def adjustment(course: CourseRef) -> bytes:
    course.step += 1
    course.dose = 50 if course.dose == 25 else 25
    return json.dumps({"dose": course.dose, "unit": "mg", "reason": "titration",
                       "effective_at": (COURSE_START + timedelta(minutes=course.step)).isoformat()}).encode()


async def refresh(conns: Connections, course: CourseRef) -> None:
    """After a refusal the course's dose may not be what the client thinks: read it."""
    path = f"/v1/patients/{course.patient_id}/medications/{course.medication_id}"
    with contextlib.suppress(*TRANSPORT_ERRORS):
        async with conns.one() as conn:
            status, answer = await conn.request("GET", path)
        if status == 200:
            course.dose = float(json.loads(answer)["dose"])


async def open_loop(rate: float, seconds: float, courses: Courses, conns: Connections,
                    by_correlation: dict[str, Sample]) -> RateResult:
    result = RateResult(rate, seconds)
    tasks: list[asyncio.Task[None]] = []

    async def send(sample: Sample) -> None:
        course: CourseRef | None = None
        try:
            # Late already is fine (it is timed from its schedule); waiting past the limit is not.
            async with asyncio.timeout(max(0.0, sample.scheduled + SEND_LIMIT - time.perf_counter())):
                course = await courses.take()
                conn = await conns.acquire()
        except TimeoutError:
            if course is not None:
                courses.give_back(course)
            sample.error = f"not sent within {SEND_LIMIT:.0f} s"
            return
        correlation = str(uuid.uuid4())
        by_correlation[correlation] = sample
        path = f"/v1/patients/{course.patient_id}/medications/{course.medication_id}/dose-adjustments"
        refused = False
        try:
            body = adjustment(course)
            sample.sent = time.perf_counter()
            async with asyncio.timeout(ANSWER_LIMIT):
                status, _ = await conn.request("POST", path, body, {"X-Correlation-Id": correlation})
            sample.answered = time.perf_counter()
            if status != 201:
                sample.error, refused = str(status), True
        except TimeoutError:
            sample.error, refused = f"no answer within {ANSWER_LIMIT:.0f} s", True
        except TRANSPORT_ERRORS as exc:
            sample.answered, sample.error, refused = time.perf_counter(), type(exc).__name__, True
        finally:
            conns.release(conn)
            if refused:
                await refresh(conns, course)
            courses.give_back(course)

    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sample = Sample(scheduled=due)
        result.samples.append(sample)
        tasks.append(asyncio.create_task(send(sample)))
    await asyncio.gather(*tasks)
    result.last_sent = max((s.sent for s in result.samples if s.sent), default=start) - start
    return result


async def wait_seen(result: RateResult, timeout: float) -> None:
    t0 = time.perf_counter()
    while any(s.on_topic is None or s.in_timeline is None for s in result.ok):
        if time.perf_counter() - t0 > timeout:
            break
        await asyncio.sleep(0.1)
    result.waited = time.perf_counter() - t0


async def wait_coordination_knows(conn: asyncpg.Connection, courses: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(asyncpg.UndefinedTableError):
            known = await conn.fetchval("SELECT count(*) FROM timeline_entries "
                                        "WHERE service = 'pharmacy' AND type = 'MedicationStarted'")
            if known >= courses:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"coordination did not learn the {courses} courses in {timeout:.0f} s")
        await asyncio.sleep(0.2)


# --------------------------------------------------------------------------- the run


@dataclass
class LatencyReport:
    processes: int  # pharmacy's worker processes
    patients: int
    results: list[RateResult]
    setup_seconds: float
    not_run: str | None = None


async def bench_latency(rates: Sequence[float] = RATES, seconds: float = 8.0, patients: int = 300,
                        processes: int = 2, run_id: str | None = None) -> LatencyReport:
    run_id = run_id or uuid.uuid4().hex[:8]
    not_run = None
    if processes > 1 and not serve_has_workers():
        processes, not_run = 1, "pharmacy with 1 worker: carecoord serve has no --workers option yet"
    env = service_env(run_id, NAMES)
    env["CARECOORD_COORDINATION_RULES_TICK_SECONDS"] = "3600"  # the projection's work, not the tick's
    bootstrap = env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"]
    token = issue_token(env["CARECOORD_JWT_SECRET"], sub="bench-clinician", roles=["coordinator", "prescriber"],
                        clinics=[CLINIC], ttl_seconds=3600)
    channel = f"bench_{run_id}_timeline"
    progress(f"latency: run {run_id}: serving assessment, pharmacy ({processes} worker processes), coordination")
    t_setup = time.perf_counter()
    served: dict[str, Service] = {}
    results: list[RateResult] = []
    try:
        served = {name: start_service(name, env, processes if name == "pharmacy" else 1) for name in NAMES}
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                     timeout=30.0) as client:
            await wait_ready(client, list(served.values()))
            pharmacy_db = await connect(env, "pharmacy", f"bench_{run_id}_pharmacy")
            coordination_db = await connect(env, "coordination", f"bench_{run_id}_coordination")
            listener = await connect(env, "coordination", f"bench_{run_id}_coordination")
            stop = asyncio.Event()
            watcher: asyncio.Task[None] | None = None
            conns = Connections(served["pharmacy"].port, token)
            try:
                ids = await enroll(client, served["assessment"], patients, concurrency=16)
                await wait_directory(pharmacy_db, ids)
                refs = await start_courses(client, served["pharmacy"], ids, concurrency=16)
                await wait_coordination_knows(coordination_db, len(refs))
                await coordination_db.execute(probe_sql(channel))
                timeline_seen: dict[tuple[str, int], float] = {}
                await listen_timeline(listener, channel, timeline_seen)
                by_correlation: dict[str, Sample] = {}
                assigned = asyncio.Event()
                topic = f"bench{run_id}.carecoord.pharmacy.events.v1"
                watcher = asyncio.create_task(watch_topic(bootstrap, topic, by_correlation, stop, assigned))
                await asyncio.wait_for(assigned.wait(), 30)
                await asyncio.sleep(0.5)  # the consumer's first position is fetched
                setup = time.perf_counter() - t_setup
                progress(f"latency: {len(refs)} patients with a course each, known to coordination; setup "
                         f"took {setup:.1f} s")
                courses = Courses(refs)
                for rate in rates:
                    progress(f"latency: {rate:,.0f} commands/s for {seconds:.0f} s, open loop")
                    cpu0 = {name: svc.cpu_seconds() for name, svc in served.items()}
                    with cpu_window() as busy:
                        t0 = time.perf_counter()
                        result = await open_loop(rate, seconds, courses, conns, by_correlation)
                        elapsed = time.perf_counter() - t0
                        result.machine_busy = busy()
                    result.cpu = {name: (svc.cpu_seconds() - cpu0[name]) / elapsed for name, svc in served.items()}
                    result.connections = conns.opened
                    await wait_seen(result, timeout=max(10.0, seconds))
                    for s in result.ok:
                        if s.key is not None:
                            s.in_timeline = timeline_seen.get(s.key)
                    results.append(result)
                    http, topic_ms, timeline_ms = (result.latencies(p) for p in ("http", "topic", "timeline"))
                    progress(f"latency: {rate:,.0f}/s: achieved {result.achieved:,.0f}/s, {len(result.late)} late, "
                             f"{sum(result.failed.values())} failed; p99 answer {percentile(http, 0.99):.0f} ms, "
                             f"topic {percentile(topic_ms, 0.99):.0f} ms, "
                             f"timeline {percentile(timeline_ms, 0.99):.0f} ms")
                    await asyncio.sleep(1.0)
            finally:
                stop.set()
                if watcher is not None:
                    await watcher
                await conns.close()
                for conn in (pharmacy_db, coordination_db, listener):
                    await conn.close()
    finally:
        progress("latency: stopping services, dropping schemas and topics")
        await asyncio.to_thread(stop_services, list(served.values()))
        await cleanup(env, run_id, NAMES)
    return LatencyReport(processes, patients, results, setup, not_run)


# --------------------------------------------------------------------------- output

PATHS = (("http", "HTTP answer"), ("topic", "event on pharmacy's topic"),
         ("timeline", "entry in coordination's timeline"))


def ms(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:,.1f}"


def triple(values: Sequence[float]) -> str:
    return " / ".join(ms(percentile(values, q)) for q in (0.5, 0.99, 0.999))


def render(report: LatencyReport) -> str:
    head = ["rate", "from the scheduled send to", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "got there"]
    body = []
    for r in report.results:
        for path, label in PATHS:
            values = r.latencies(path)
            body.append([f"{r.rate:,.0f}/s", label, *(ms(percentile(values, q)) for q in (0.5, 0.99, 0.999)),
                         ms(max(values, default=float("nan"))), f"{r.reached(path):,} of {len(values):,}"])
    lines = [f"open-loop latency: POST dose-adjustments at a fixed arrival rate, timed from each request's scheduled "
             f"send time (pharmacy {report.processes} worker process{'es' if report.processes > 1 else ''}, "
             f"assessment and coordination 1 each; {report.patients} courses, one request in flight per course)",
             "", markdown_table(head, body, {2, 3, 4, 5, 6}),
             "  inf: more than that share of the requests due never got there (not sent, failed or not seen)", ""]
    for r in report.results:
        failed = sum(r.failed.values())
        why = f" ({', '.join(f'{k}: {v}' for k, v in sorted(r.failed.items()))})" if failed else ""
        ok = len(r.ok)
        lines.append(
            f"  {r.rate:,.0f}/s: {len(r.samples):,} scheduled over {r.seconds:.0f} s, achieved {r.achieved:,.0f}/s "
            f"sent; {len(r.late):,} sent > {LATE_MS:.0f} ms late (max {max(r.late, default=0):,.0f} ms); {failed:,} "
            f"failed{why}; of {ok:,} accepted, {r.reached('topic'):,} seen on the topic and "
            f"{r.reached('timeline'):,} in the timeline ({r.waited:.1f} s waited after the load); CPU "
            + ", ".join(f"{name} {share:.0%}" for name, share in r.cpu.items())
            + f" of a core, machine {r.machine_busy:.0%} busy; {r.connections} connections")
    lines.append(f"  setup (start three services, enroll {report.patients}, start their courses, wait for "
                 f"coordination): {report.setup_seconds:.1f} s")
    if report.not_run:
        lines.append(f"  {report.not_run}")
    return "\n".join(lines)


def goals(report: LatencyReport) -> list[Goal]:
    """The issue asks for these numbers without a bar: reported, with whether the rate was kept."""
    out = []
    for r in report.results:
        part = f"latency {r.rate:,.0f}/s"
        kept = f"sent {r.achieved:,.0f}/s, {len(r.late):,} late, {sum(r.failed.values()):,} failed"
        out.append(Goal(part, "open-loop rate kept", kept, "-", None))
        out.append(Goal(part, "HTTP request -> event on the topic, p50 / p99 / p99.9 ms",
                        triple(r.latencies("topic")), "-", None))
        out.append(Goal(part, "HTTP request -> timeline entry in coordination, p50 / p99 / p99.9 ms",
                        triple(r.latencies("timeline")), "-", None))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-latency", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="4 s per rate instead of 8")
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    parser.add_argument("--processes", type=int, default=2, help="pharmacy's worker processes")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    report = asyncio.run(bench_latency(args.rates, 4.0 if args.quick else 8.0, processes=args.processes))
    print()
    print(render(report))
    print(f"  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print()
    print(goals_table(goals(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
