"""(e): dose adjustments through the pharmacy service's HTTP API, end to end.

The real services run as separate processes, started the way ``make up`` starts them
(``python -m shared.cli serve <service> --port <free port>``), with the local stack's
environment (``deploy/local/stack.py env_lines()``) plus a schema of their own in each
service database (``bench_<run>_assessment`` / ``bench_<run>_pharmacy``) and a topic
namespace of their own (``bench<run>.``). Patients are enrolled through assessment's API;
once pharmacy's directory (fed by the assessment topic) knows them, one sertraline course
is started per patient.

Then a closed loop: ``workers`` asyncio tasks of this process, each with its own keep-alive
HTTP/1.1 connection (a minimal socket client, see :class:`RawConnection`; ``--client httpx``
uses a shared httpx.AsyncClient instead) and its own courses, send
``POST /v1/patients/{pid}/medications/{mid}/dose-adjustments`` (25 <-> 50 mg, increasing
``effective_at``, ``expected_version`` from the previous answer) for a fixed time after a
warm-up; then one worker alone for a few seconds (latency without queueing). Only 201s
count; any other answer is counted as an error. The baseline is ``GET /health`` on the same
service, same client, concurrency and duration: the cost of uvicorn + FastAPI + the
tracing middleware without auth, database or Kafka.

The measured service runs with 1 worker process, then (restarted on the same schema, after
the same warm-up) with 2 (``carecoord serve <service> --workers 2``) where ``carecoord
serve`` has that option; every line is measured again for each, the ``/health`` baseline
included, and the service's CPU is that of all its processes (the workers are children of the
served process, in its session). Issue 15's goals are checked for each: commands >= 0.3x the
``/health`` rate of the same processes, p99 < 25 ms, service CPU <= 0.6 ms per command.

Standalone: ``python -m tests.bench.http_pharmacy [--quick] [--client httpx] [--processes 1 2]``
with the stack's environment (``make bench`` runs it after the kernel table).

The run itself is generic (:class:`Workload`: which service, how its aggregates are set up,
which request is measured); tests/bench/http_therapy.py runs session completions with it.

At the end the pharmacy outbox is watched until it is empty and the pharmacy topic is read
back: every accepted adjustment should be on it as one ``DoseAdjusted`` record.
Everything is removed afterwards (processes, schemas, topics), also after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Protocol, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.pharmacy.domain.events import DoseAdjusted
from shared.auth import issue_token
from shared.db import plain_dsn
from shared.envelope import event_type
from shared.kafka.security import client_security
from tests.bench.common import Goal, goals_table, markdown_table, progress
from tests.support import local_stack
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
CLINIC = "bench-clinic"
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
# The ce_type each accepted adjustment puts on the topic, from the event's own version.
DOSE_ADJUSTED = event_type("pharmacy", DoseAdjusted.event_name, DoseAdjusted.version).encode()
COURSE_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SERVICES = ("assessment", "pharmacy")
# Issue 15's goals for a command over HTTP at 16 clients.
MIN_HEALTH_RATIO = 0.3  # commands/s over GET /health/s of the same processes
MAX_P99_MS = 25.0
MAX_CPU_MS = 0.6  # service CPU (every process of it) per command


@dataclass(frozen=True)
class HttpSizes:
    workers: int  # concurrent closed-loop clients
    patients: int  # one course each; every worker owns patients // workers (+1) courses
    warmup: float  # seconds, per side, not reported
    duration: float  # seconds, per side
    single: float  # seconds of one worker alone: latency without queueing

    @classmethod
    def full(cls) -> HttpSizes:
        # Twice per service (1 and 2 worker processes) within make bench's six minutes.
        return cls(workers=16, patients=400, warmup=2.0, duration=6.0, single=3.0)

    @classmethod
    def quick(cls) -> HttpSizes:
        return cls(workers=16, patients=400, warmup=1.0, duration=4.0, single=2.0)


@dataclass
class LoadResult:
    """One side of the HTTP table: what a closed loop got in ``elapsed`` seconds."""

    name: str
    workers: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    finished: list[float] = field(default_factory=list)  # when each of them answered, from the start
    errors: Counter[str] = field(default_factory=Counter)  # status code (or exception) -> count
    service_cpu: float = 0.0  # CPU seconds the service's processes used during the window
    client_cpu: float = 0.0  # CPU seconds this process used during the window
    machine_busy: float = 0.0  # share of all CPUs busy during the window (0..1)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000

    def quarter_rates(self) -> list[float]:
        """Successful requests per second in each quarter of the window: is the rate sustained?"""
        quarter = self.elapsed / 4
        counts = Counter(min(3, int(t / quarter)) for t in self.finished) if quarter > 0 else Counter()
        return [counts[q] / quarter if quarter > 0 else 0.0 for q in range(4)]

    @property
    def max_ms(self) -> float:
        return max(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        answered = self.ok + self.error_count
        return self.service_cpu / answered * 1000 if answered else float("nan")


@dataclass
class RelayCheck:
    accepted: int  # measured commands the service answered 201 for (every phase)
    unsent_at_end: int  # outbox rows not yet published when the load stopped
    drained_after: float | None  # seconds after the load until the outbox was empty
    on_topic: int  # records of the measured command's event type on the service's topic at the end


@dataclass
class Phase:
    """The lines measured with the service running as ``processes`` worker processes."""

    processes: int
    load: LoadResult
    single: LoadResult
    health: LoadResult

    @property
    def label(self) -> str:
        return f"{self.processes} worker{'s' if self.processes > 1 else ''}"


@dataclass
class HttpReport:
    workload: Workload
    sizes: HttpSizes
    phases: list[Phase]
    relay: RelayCheck
    setup_seconds: float
    max_stream_version: int
    not_run: str | None = None  # why a worker count asked for was not measured

    @property
    def load(self) -> LoadResult:
        return self.phases[0].load

    @property
    def single(self) -> LoadResult:
        return self.phases[0].single

    @property
    def health(self) -> LoadResult:
        return self.phases[0].health


@dataclass
class CourseRef:
    patient_id: str
    medication_id: str
    version: int
    dose: float
    step: int = 0  # adjustments sent so far; effective_at = start + step minutes


# --------------------------------------------------------------------------- processes


def _stack() -> ModuleType:
    """deploy/local/stack.py (standard library only), imported by path."""
    return local_stack.load_stack()


def service_env(run_id: str, services: Sequence[str] = SERVICES) -> dict[str, str]:
    env = dict(os.environ)
    env.update(line.split("=", 1) for line in _stack().env_lines())
    for svc in services:
        env[f"CARECOORD_{svc.upper()}_DATABASE_SCHEMA"] = f"bench_{run_id}_{svc}"
    # Shared infrastructure fields: read unprefixed by every service (shared/settings.py).
    env["CARECOORD_TOPIC_NAMESPACE"] = f"bench{run_id}."
    # The bench is one principal sending what a clinic's many staff would: the per-principal
    # limit (50/s by default) would measure the limiter, not the service.
    env["CARECOORD_RATE_LIMIT_PER_SECOND"] = "0"
    return env


@dataclass
class Service:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """utime + stime of every live process of the service, from /proc: the served process
        and its workers (started in a session of its own, so its session id is its pid). A
        worker that exits during a window takes its CPU with it; none does in a bench run."""
        return session_cpu_seconds(self.proc.pid)


def session_cpu_seconds(sid: int) -> float:
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[3]) == sid:  # fields[3] is the session id (fields[0] is the state)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def serve_has_workers() -> bool:
    """Whether ``carecoord serve`` takes ``--workers N`` (several processes on one port)."""
    out = subprocess.run([sys.executable, "-m", "shared.cli", "serve", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=False).stdout
    return "--workers" in out


def start_service(name: str, env: dict[str, str], processes: int = 1) -> Service:
    port = free_port()
    log = tempfile.TemporaryFile()  # anonymous: gone when closed
    workers = ["--workers", str(processes)] if processes > 1 else []
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", name, "--port", str(port), *workers],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Service(name, port, proc, log)


def stop_services(services: Sequence[Service]) -> None:
    for svc in services:
        if svc.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(svc.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for svc in services:
        try:
            svc.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(svc.proc.pid, signal.SIGKILL)
            svc.proc.wait()
        svc.log.close()


async def wait_ready(client: httpx.AsyncClient, services: Sequence[Service], timeout: float = 90.0) -> None:
    pending = list(services)
    deadline = time.monotonic() + timeout
    while pending:
        for svc in list(pending):
            if svc.proc.poll() is not None:
                raise RuntimeError(f"{svc.name} exited with {svc.proc.returncode}:\n{svc.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{svc.base}/ready", timeout=5)).status_code == 200:
                    pending.remove(svc)
        if pending and time.monotonic() > deadline:
            tails = "\n".join(f"--- {s.name}\n{s.log_tail()}" for s in pending)
            raise RuntimeError(f"not ready in {timeout:.0f} s: {[s.name for s in pending]}\n{tails}")
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def cpu_window() -> Iterator[Callable[[], float]]:
    """Share of all CPUs busy (not idle/iowait) between entering and calling the result."""
    def snapshot() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle

    total0, idle0 = snapshot()

    def busy() -> float:
        total1, idle1 = snapshot()
        return 1 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else 0.0

    yield busy


# --------------------------------------------------------------------------- load


class LoadClient(Protocol):
    """What a closed-loop worker sends its requests through."""

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class RawConnection:
    """One keep-alive HTTP/1.1 connection and just enough client for a closed loop.

    On a 2-core machine the load generator shares the CPUs with the service, PostgreSQL and
    Kafka; httpx spends ~1.5-2 ms of CPU per request, this ~0.1 ms, so the numbers are the
    service's, not the client's. Connects lazily, reconnects after an error.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """``headers`` are sent with this request only, after the connection's own."""
        if self._reader is not None and self._reader.at_eof():
            await self.close()  # the server closed it while idle (uvicorn: after 5 s)
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        payload = body or b""
        content = f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n" if body is not None else ""
        if headers:
            content += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        try:
            self._writer.write(f"{method} {path} HTTP/1.1\r\n{self._head}{content}\r\n".encode() + payload)
            head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(head[0].split(" ", 2)[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
            if fields.get("transfer-encoding", "").lower() == "chunked":
                answer = await self._chunked()
            else:
                answer = await self._reader.readexactly(int(fields.get("content-length", "0")))
        except BaseException:
            await self.close()
            raise
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, answer

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)
        await self._reader.readuntil(b"\r\n")
        return b"".join(parts)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class HttpxClient:
    """The same interface over a shared httpx.AsyncClient (``--client httpx``), for comparison."""

    def __init__(self, client: httpx.AsyncClient, base: str) -> None:
        self.client, self.base = client, base

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        resp = await self.client.request(method, f"{self.base}{path}", content=body, headers=headers)
        return resp.status_code, resp.content

    async def close(self) -> None:
        pass


Request = Callable[[int], Awaitable[str | None]]  # worker number -> None if it counts, else why not
TRANSPORT_ERRORS = (httpx.HTTPError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


async def closed_loop(name: str, workers: int, seconds: float, request: Request, service: Service,
                      record: bool = True) -> LoadResult:
    """``workers`` tasks, each sending its next request as soon as the previous one answered,
    until ``seconds`` have passed; elapsed runs until the last answer arrived."""
    result = LoadResult(name, workers)

    async def worker(w: int, start: float, until: float) -> None:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            try:
                error = await request(w)
            except TRANSPORT_ERRORS as exc:
                error = type(exc).__name__
            if error is not None:
                result.errors[error] += 1
            elif record:
                now = time.perf_counter()
                result.latencies.append(now - t0)
                result.finished.append(now - start)

    cpu0, client0 = service.cpu_seconds(), time.process_time()
    with cpu_window() as busy:
        start = time.perf_counter()
        await asyncio.gather(*(worker(w, start, start + seconds) for w in range(workers)))
        result.elapsed = time.perf_counter() - start
        result.machine_busy = busy()
    result.service_cpu = service.cpu_seconds() - cpu0
    result.client_cpu = time.process_time() - client0
    return result


def adjust_body(course: CourseRef) -> bytes:
    course.step += 1
    return json.dumps({"dose": 50 if course.dose == 25 else 25, "unit": "mg", "reason": "titration",
                       "effective_at": (COURSE_START + timedelta(minutes=course.step)).isoformat(),
                       "expected_version": course.version}).encode()


T = TypeVar("T")


def rotation(owned: list[list[T]]) -> Callable[[int], T]:
    """Worker w's next aggregate: each worker cycles through its own."""
    turn = [0] * len(owned)

    def next_for(w: int) -> T:
        mine = owned[w]
        turn[w] += 1
        return mine[(turn[w] - 1) % len(mine)]

    return next_for


def adjuster(clients: Sequence[LoadClient], owned: list[list[CourseRef]], counter: list[int]) -> Request:
    """Each worker cycles through its own courses; on a refusal it re-reads the course."""
    next_course = rotation(owned)

    async def request(w: int) -> str | None:
        course = next_course(w)
        path = f"/v1/patients/{course.patient_id}/medications/{course.medication_id}"
        status, answer = await clients[w].request("POST", f"{path}/dose-adjustments", adjust_body(course))
        if status == 201:
            body = json.loads(answer)
            course.version, course.dose = int(body["version"]), float(body["dose"])
            counter[0] += 1
            return None
        fresh, answer = await clients[w].request("GET", path)
        if fresh == 200:
            body = json.loads(answer)
            course.version, course.dose = int(body["version"]), float(body["dose"])
        return str(status)

    return request


def health_check(clients: Sequence[LoadClient]) -> Request:
    async def request(w: int) -> str | None:
        status, _ = await clients[w].request("GET", "/health")
        return None if status == 200 else str(status)

    return request


# --------------------------------------------------------------------------- setup


async def post_setup(client: httpx.AsyncClient, url: str, body: dict[str, Any], attempts: int = 3) -> httpx.Response:
    """A setup POST (not measured), retried after a dropped connection under the same
    Idempotency-Key, so a retry records nothing twice: on a loaded machine a keep-alive
    connection is now and then closed under a request."""
    key = str(uuid.uuid4())
    for attempt in range(1, attempts + 1):
        try:
            return await client.post(url, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


async def enroll(client: httpx.AsyncClient, assessment: Service, n: int, concurrency: int) -> list[str]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with gate:
            resp = await post_setup(client, f"{assessment.base}/v1/patients", {
                "clinic_id": CLINIC, "display_name": f"Bench Patient {i}", "birth_date": "1981-04-12"})
        if resp.status_code != 201:
            raise RuntimeError(f"enrollment answered {resp.status_code}: {resp.text[:300]}")
        return str(resp.json()["patient_id"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def wait_directory(conn: asyncpg.Connection, patient_ids: list[str], timeout: float = 60.0) -> None:
    """The service's patient directory (its projection of the assessment topic) knows them all."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(asyncpg.UndefinedTableError):
            known = await conn.fetchval("SELECT count(*) FROM patient_directory WHERE patient_id = ANY($1)",
                                        patient_ids)
            if known == len(patient_ids):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service's directory did not learn the {len(patient_ids)} patients "
                               f"in {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def start_courses(client: httpx.AsyncClient, pharmacy: Service, patient_ids: list[str],
                        concurrency: int) -> list[CourseRef]:
    gate = asyncio.Semaphore(concurrency)

    async def one(pid: str) -> CourseRef:
        async with gate:
            resp = await post_setup(client, f"{pharmacy.base}/v1/patients/{pid}/medications", {
                "drug": SERTRALINE, "dose": 25, "unit": "mg", "schedule": {"times_per_day": 1},
                "indication": {"system": "ICD-10", "code": "F32.1"}, "started_at": COURSE_START.isoformat()})
        if resp.status_code != 201:
            raise RuntimeError(f"starting a course answered {resp.status_code}: {resp.text[:300]}")
        body = resp.json()
        return CourseRef(pid, str(body["medication_id"]), int(body["version"]), float(body["dose"]))

    return list(await asyncio.gather(*(one(pid) for pid in patient_ids)))


# --------------------------------------------------------------------------- relay check


async def unsent(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


async def wait_drained(conn: asyncpg.Connection, timeout: float) -> float | None:
    t0 = time.perf_counter()
    while await unsent(conn) > 0:
        if time.perf_counter() - t0 > timeout:
            return None
        await asyncio.sleep(0.05)
    return time.perf_counter() - t0


async def count_on_topic(bootstrap: str, topic: str, event_type: bytes) -> int:
    """Records of ``event_type`` (CloudEvents ``ce_type`` header) on ``topic``, start to end."""
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [TopicPartition(topic, p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(**client_security(), bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_poll_records=5000, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        found = 0
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                found += sum(1 for r in records if dict(r.headers).get("ce_type") == event_type)
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- the run


async def connect(env: dict[str, str], service: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(plain_dsn(env[f"CARECOORD_{service.upper()}_DATABASE_URL"]),
                                 server_settings={"search_path": schema})


async def cleanup(env: dict[str, str], run_id: str, services: Sequence[str] = SERVICES) -> None:
    for svc in services:
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(plain_dsn(env[f"CARECOORD_{svc.upper()}_DATABASE_URL"]))
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "bench_{run_id}_{svc}" CASCADE')
            finally:
                await conn.close()
    with contextlib.suppress(Exception):
        admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"])
        await admin.start()
        try:
            mine = [t for t in await admin.list_topics() if t.startswith(f"bench{run_id}.")]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def running_services(env: dict[str, str], names: Sequence[str] = SERVICES) -> AsyncIterator[dict[str, Service]]:
    services = {name: start_service(name, env) for name in names}
    try:
        yield services
    finally:
        await asyncio.to_thread(stop_services, list(services.values()))


@dataclass(frozen=True)
class Workload:
    """What one service's HTTP bench measures: the service, how each enrolled patient gets an
    aggregate to work on, and the request each closed-loop worker sends."""

    service: str
    request_label: str  # "POST dose-adjustments"
    noun: str  # "dose adjustments", for progress lines and the summary
    event_type: bytes  # ce_type of the record each accepted request puts on the topic
    aggregates: str  # "courses", for the setup line
    prepare: Callable[[httpx.AsyncClient, Service, list[str], Sequence[LoadClient]], Awaitable[list[Any]]]
    requester: Callable[[Sequence[LoadClient], list[list[Any]], list[int]], Request]
    notes: Callable[[], list[str]] = list  # extra summary lines, read after the run
    # Room for ``n`` more measured requests (therapy books sessions to complete), made after the
    # warm-up with ``n`` from its rate, so that setup need not guess how fast the machine is.
    top_up: Callable[[list[Any], Sequence[LoadClient], int], Awaitable[None]] | None = None

    @property
    def event_name(self) -> str:
        return self.event_type.decode().split(".")[2]


async def _start_courses(client: httpx.AsyncClient, pharmacy: Service, patient_ids: list[str],
                         clients: Sequence[LoadClient]) -> list[CourseRef]:
    return await start_courses(client, pharmacy, patient_ids, len(clients))


DOSE_ADJUSTMENTS = Workload(service="pharmacy", request_label="POST dose-adjustments", noun="dose adjustments",
                            event_type=DOSE_ADJUSTED, aggregates="courses", prepare=_start_courses,
                            requester=adjuster)


async def bench_http(sizes: HttpSizes, run_id: str | None = None, client_kind: str = "raw",
                     processes: Sequence[int] = (1,)) -> HttpReport:
    return await run_workload(DOSE_ADJUSTMENTS, sizes, run_id, client_kind, processes)


def worker_counts(wanted: Sequence[int]) -> tuple[list[int], str | None]:
    """The worker counts that can run here, and why any other was left out."""
    if all(n == 1 for n in wanted) or serve_has_workers():
        return list(wanted), None
    return [n for n in wanted if n == 1], "carecoord serve has no --workers option yet"


async def measure_phase(workload: Workload, sizes: HttpSizes, service: Service, processes: int,
                        clients: Sequence[LoadClient], refs: list[Any], owned: list[list[Any]],
                        accepted: list[int], conn: asyncpg.Connection) -> Phase:
    """GET /health, then the command: warm-up, one worker alone, ``sizes.workers`` workers."""
    label = f"{processes} worker{'s' if processes > 1 else ''}"
    health = health_check(clients)
    # Health first, so the relay's catch-up after the measured commands cannot slow it.
    await closed_loop("health", sizes.workers, sizes.warmup, health, service, record=False)
    health_result = await closed_loop(f"GET /health ({sizes.workers} clients, {label})", sizes.workers,
                                      sizes.duration, health, service)
    progress(f"http: {workload.service} x{processes}: GET /health {health_result.rate:,.0f}/s, p50 "
             f"{health_result.percentile(50):.1f} ms")
    request = workload.requester(clients, owned, accepted)
    warm = await closed_loop("warm-up", sizes.workers, sizes.warmup, request, service, record=False)
    if workload.top_up is not None:
        expected = accepted[0] / warm.elapsed * (sizes.single + sizes.duration) if warm.elapsed else 0
        await workload.top_up(refs, clients, math.ceil(1.3 * expected))
        await wait_drained(conn, timeout=60)  # its events published before anything is measured
    alone = workload.requester(clients, [refs], accepted)  # one client, every aggregate in turn
    single = await closed_loop(f"{workload.request_label} (1 client, {label})", 1, sizes.single, alone, service)
    load = await closed_loop(f"{workload.request_label} ({sizes.workers} clients, {label})",
                             sizes.workers, sizes.duration, request, service)
    load.errors.update(warm.errors)  # a refusal in the warm-up is still a refusal
    progress(f"http: {workload.service} x{processes}: {workload.noun}, 1 client: {single.rate:,.0f}/s, "
             f"p50 {single.percentile(50):.1f} ms; {sizes.workers} clients: {load.rate:,.0f}/s, "
             f"p50 {load.percentile(50):.1f} ms, p99 {load.percentile(99):.1f} ms, {load.error_count} errors")
    return Phase(processes, load, single, health_result)


async def run_workload(workload: Workload, sizes: HttpSizes, run_id: str | None = None,
                       client_kind: str = "raw", processes: Sequence[int] = (1,)) -> HttpReport:
    run_id = run_id or uuid.uuid4().hex[:8]
    name = workload.service
    names = ("assessment", name)
    counts, not_run = worker_counts(processes)
    env = service_env(run_id, names)
    token = issue_token(env["CARECOORD_JWT_SECRET"], sub="bench-clinician",
                        roles=["coordinator", "prescriber", "therapist"], clinics=[CLINIC], ttl_seconds=3600)
    progress(f"http: run {run_id}: serving assessment and {name} (schemas bench_{run_id}_*, "
             f"topics bench{run_id}.*)")
    t_setup = time.perf_counter()
    limits = httpx.Limits(max_connections=sizes.workers, max_keepalive_connections=sizes.workers)
    served = {"assessment": start_service("assessment", env), name: start_service(name, env, counts[0])}
    phases: list[Phase] = []
    try:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                     timeout=30.0) as client:
            assessment = served["assessment"]
            await wait_ready(client, list(served.values()))
            progress(f"http: both ready after {time.perf_counter() - t_setup:.1f} s "
                     f"(assessment :{assessment.port}, {name} :{served[name].port})")
            conn = await connect(env, name, f"bench_{run_id}_{name}")
            clients: list[LoadClient] = []
            try:
                patients = await enroll(client, assessment, sizes.patients, sizes.workers)
                await wait_directory(conn, patients)
                accepted = [0]
                refs: list[Any] = []
                for i, n in enumerate(counts):
                    if i > 0:  # the same schema and aggregates, served by n processes
                        await asyncio.to_thread(stop_services, [served[name]])
                        served[name] = start_service(name, env, n)
                        await wait_ready(client, [served[name]])
                    service = served[name]
                    for c in clients:
                        await c.close()
                    clients = (
                        [RawConnection("127.0.0.1", service.port, {"Authorization": f"Bearer {token}"})
                         for _ in range(sizes.workers)] if client_kind == "raw"
                        else [HttpxClient(client, service.base)] * sizes.workers)
                    if i == 0:
                        refs = await workload.prepare(client, service, patients, clients)
                        setup = time.perf_counter() - t_setup
                        progress(f"http: {len(refs)} patients enrolled and their {workload.aggregates} set up; "
                                 f"setup took {setup:.1f} s")
                    owned: list[list[Any]] = [refs[w::sizes.workers] for w in range(sizes.workers)]
                    if not all(owned):
                        raise ValueError("need at least as many patients as workers")
                    phases.append(await measure_phase(workload, sizes, service, n, clients, refs, owned,
                                                      accepted, conn))
                left = await unsent(conn)
                progress(f"http: {left} outbox rows unsent at the end of the load")
                drained = await wait_drained(conn, timeout=30)
                topic = f"bench{run_id}.carecoord.{name}.events.v1"
                on_topic = await count_on_topic(env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"], topic,
                                                workload.event_type)
                longest = int(await conn.fetchval("SELECT coalesce(max(stream_version), 0) FROM events"))
            finally:
                await conn.close()
                for c in clients:
                    await c.close()
    finally:
        progress("http: stopping services, dropping schemas and topics")
        await asyncio.to_thread(stop_services, list(served.values()))
        await cleanup(env, run_id, names)
    return HttpReport(workload, sizes, phases, RelayCheck(accepted[0], left, drained, on_topic), setup, longest,
                      not_run)


# --------------------------------------------------------------------------- output


def table(report: HttpReport) -> str:
    head = ["line", "requests/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "ok", "errors", "service CPU ms/req"]
    body = []
    for phase in report.phases:
        for r in (phase.load, phase.single, phase.health):
            errors = str(r.error_count) + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(r.errors.items()))})"
                                           if r.errors else "")
            body.append([r.name, f"{r.rate:,.0f}", f"{r.percentile(50):.1f}", f"{r.percentile(90):.1f}",
                         f"{r.percentile(99):.1f}", f"{r.max_ms:.1f}", f"{r.ok:,}", errors,
                         f"{r.cpu_ms_per_request:.2f}"])
    return markdown_table(head, body, {1, 2, 3, 4, 5, 6, 8})


def goals(report: HttpReport) -> list[Goal]:
    """Issue 15's three goals of a command over HTTP, for each worker count measured."""
    out = []
    label = f"{report.workload.request_label} at {report.sizes.workers} clients"
    for phase in report.phases:
        a, h = phase.load, phase.health
        part = f"{report.workload.service}, {phase.label}"
        ratio = a.rate / h.rate if h.rate else float("nan")
        out += [
            Goal(part, f"{label} / GET /health of the same process(es)",
                 f"{ratio:.2f}x ({a.rate:,.0f} / {h.rate:,.0f} per s)", f">= {MIN_HEALTH_RATIO}x",
                 a.ok > 0 and ratio >= MIN_HEALTH_RATIO),
            Goal(part, f"{label}: p99", f"{a.percentile(99):.1f} ms", f"< {MAX_P99_MS:.0f} ms",
                 a.ok > 0 and a.percentile(99) < MAX_P99_MS),
            Goal(part, f"{label}: service CPU per command", f"{a.cpu_ms_per_request:.2f} ms", f"<= {MAX_CPU_MS} ms",
                 a.ok > 0 and a.cpu_ms_per_request <= MAX_CPU_MS),
        ]
    return out


def summary(report: HttpReport) -> str:
    relay, work = report.relay, report.workload
    drained = (f"outbox empty {relay.drained_after:.1f} s after the load" if relay.drained_after is not None
               else "outbox NOT empty 30 s after the load")
    caught_up = "yes" if relay.on_topic == relay.accepted else "NO"
    lines = []
    for phase in report.phases:
        a = phase.load
        lines.append(f"  {phase.label}: {work.noun}/s by quarter of the window: "
                     + ", ".join(f"{q:,.0f}" for q in a.quarter_rates()))
        for r in (a, phase.single, phase.health):
            lines.append(f"  cpu, {r.name}: service {r.cpu_ms_per_request:.2f} ms/request "
                         f"({r.service_cpu / r.elapsed:.0%} of one core), client {r.client_cpu / r.elapsed:.0%}, "
                         f"machine {r.machine_busy:.0%} busy")
    if report.not_run:
        lines.append(f"  2 workers: not measured ({report.not_run})")
    lines += [
        f"  streams grow to {report.max_stream_version} events (commands read only events after their cached state)",
        f"  relay: {relay.on_topic:,} {work.event_name} on the topic for {relay.accepted:,} accepted "
        f"(warm-ups and 1-client lines included; caught up: {caught_up}); {relay.unsent_at_end:,} unsent when the "
        f"load stopped, {drained}",
    ]
    lines.extend(f"  {note}" for note in work.notes())
    lines.append(f"  setup (start both services, enroll {report.sizes.patients}, set up their {work.aggregates}): "
                 f"{report.setup_seconds:.1f} s")
    return "\n".join(lines)


def render(report: HttpReport) -> str:
    s = report.sizes
    title = (f"{report.workload.service} over HTTP (service processes as `make up` runs them; closed loop, "
             f"keep-alive; per worker count: {s.warmup:.0f} s warm-up, then {s.duration:.0f} s per "
             f"{s.workers}-client line, {s.single:.0f} s for 1 client)")
    return "\n".join([title, "", table(report), "", summary(report)])


Bench = Callable[[HttpSizes, str | None, str, Sequence[int]], Coroutine[Any, Any, HttpReport]]


def cli(argv: Sequence[str] | None, bench: Bench, prog: str, description: str | None) -> int:
    """The standalone command line of an HTTP bench module."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="5 s per line instead of 20")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="load generator: raw keep-alive sockets (default) or a shared httpx.AsyncClient")
    parser.add_argument("--patients", type=int, help="aggregates to spread the load over (fewer: longer streams)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="worker processes of the measured service, one measurement each (default: 1 2)")
    args = parser.parse_args(argv)
    sizes = HttpSizes.quick() if args.quick else HttpSizes.full()
    if args.patients:
        sizes = dataclasses.replace(sizes, patients=args.patients)
    report = asyncio.run(bench(sizes, None, args.client, args.processes))
    print()
    print(render(report))
    print()
    print(goals_table(goals(report)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli(argv, bench_http, "bench-http", __doc__)


if __name__ == "__main__":
    sys.exit(main())
