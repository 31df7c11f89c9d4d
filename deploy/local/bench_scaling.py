"""``make bench-scaling``: how carecoord scales with instances on this one machine.

1. Coordination with 1, 2 and 3 instances in one consumer group (each a process started as
   ``make up`` starts a service, one shared schema, 6 partitions per topic): projection
   throughput — a synthetic history published to the four topics once every instance holds
   partitions, timed until the timeline has every event — then command → timeline latency:
   PHQ-9 assessments posted to assessment at a steady open-loop rate, each timed from the
   request until its entry is in coordination's timeline (polled every 20 ms).
2. Pharmacy with 1 and 2 instances behind one address: both listen on the same port with
   SO_REUSEPORT, so the kernel spreads connections between them (as a Service spreads them
   between pods) with no proxy in the path; 16 closed-loop workers post dose adjustments.

CPU figures beside each line: the seconds each process used per second of the window, and
the share of the machine busy. Everything runs in schemas ``bench_<run>_*`` and topics
``bench<run>.*``, removed at the end.

    .venv/bin/python deploy/local/bench_scaling.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import stack  # noqa: E402

from shared.auth import issue_token  # noqa: E402
from shared.kafka.clients import ensure_topics  # noqa: E402
from tests.bench.coordination import publish, synthetic_history  # noqa: E402
from tests.bench.flag_latency import POSITIVE, pct  # noqa: E402
from tests.bench.http_pharmacy import (  # noqa: E402
    CLINIC,
    DOSE_ADJUSTMENTS,
    HttpSizes,
    LoadClient,
    RawConnection,
    Service,
    closed_loop,
    cpu_window,
    enroll,
    service_env,
    start_service,
    stop_services,
    wait_directory,
    wait_ready,
)

PARTITIONS = 6
SOURCES = ("assessment", "pharmacy", "therapy", "coordination")


@dataclass
class ProjectionLine:
    instances: int
    events: int
    seconds: float
    instance_cpu: list[float]  # CPU seconds per second of the window, per instance
    machine_busy: float
    latencies_ms: list[float] = field(default_factory=list)
    commands: int = 0
    rate: float = 0.0
    latency_cpu: list[float] = field(default_factory=list)
    latency_busy: float = 0.0
    assessment_cpu: float = 0.0

    @property
    def throughput(self) -> float:
        return self.events / self.seconds


@dataclass
class CommandLine:
    instances: int
    rate: float
    p50: float
    p99: float
    errors: int
    instance_cpu: list[float]
    machine_busy: float


def start_listener(name: str, env: dict[str, str], port: int) -> Service:
    """One instance of ``name`` on ``port`` with SO_REUSEPORT (see serve_reuseport)."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", name, "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Service(name, port, proc, log)


def serve_reuseport(name: str, port: int) -> None:
    """``carecoord serve`` (same uvicorn options) on a socket shared by port with the others."""
    import importlib

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    app = importlib.import_module(f"services.{name}.app").create_app()
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


def cpu_rates(services: Sequence[Service], before: Sequence[float], seconds: float) -> list[float]:
    return [(s.cpu_seconds() - b) / seconds for s, b in zip(services, before, strict=True)]


async def metrics_partitions(client: httpx.AsyncClient, svc: Service) -> set[str]:
    """The partitions this instance's projection holds: its carecoord_consumer_lag series."""
    text = (await client.get(f"{svc.base}/metrics", timeout=10)).text
    return {line.split("}")[0] for line in text.splitlines()
            if line.startswith("carecoord_consumer_lag{") and 'group="' in line}


async def wait_assigned(client: httpx.AsyncClient, instances: Sequence[Service], total: int) -> None:
    """Every instance holds partitions and together they hold all of them (the group is stable)."""
    deadline = time.monotonic() + 90
    while True:
        held = [await metrics_partitions(client, s) for s in instances]
        if all(held) and len(set().union(*held)) == total and sum(map(len, held)) == total:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"consumer group not settled: {[len(h) for h in held]} of {total}")
        await asyncio.sleep(0.5)


async def timeline_count(pool: asyncpg.Pool) -> int:
    with contextlib.suppress(asyncpg.UndefinedTableError):
        return int(await pool.fetchval("SELECT count(*) FROM timeline_entries"))
    return 0


@contextlib.asynccontextmanager
async def processes(*services: Service) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await asyncio.to_thread(stop_services, list(services))


async def coordination_step(n: int, events: int, rate: float, seconds: float, patients: int) -> ProjectionLine:
    run_id = uuid.uuid4().hex[:8]
    env = service_env(run_id, ("assessment", "coordination"))
    env["CARECOORD_COORDINATION_RULES_TICK_SECONDS"] = "3600"  # events, not the tick, do the work
    env["CARECOORD_TOPIC_PARTITIONS"] = str(PARTITIONS)
    env["CARECOORD_RATE_LIMIT_PER_SECOND"] = "0"  # capacity, not the limiter, is measured
    bootstrap = env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"]
    namespace = env["CARECOORD_TOPIC_NAMESPACE"]
    topics = {s: f"{namespace}carecoord.{s}.events.v1" for s in SOURCES}
    await ensure_topics(bootstrap, list(topics.values()), partitions=PARTITIONS)
    token = issue_token(env["CARECOORD_JWT_SECRET"], sub="bench-clinician", roles=["coordinator", "assessor"],
                        clinics=[CLINIC, "clinic-a"], ttl_seconds=3600)
    schema = f"bench_{run_id}_coordination"
    pool = await asyncpg.create_pool(env["CARECOORD_COORDINATION_DATABASE_URL"], min_size=1, max_size=2,
                                     server_settings={"search_path": schema})
    assessment = start_service("assessment", env)
    coordination = [start_service("coordination", env) for _ in range(n)]
    try:
        async with processes(assessment, *coordination), httpx.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
            await wait_ready(client, [assessment, *coordination])
            await wait_assigned(client, coordination, PARTITIONS * len(SOURCES))
            history = synthetic_history(patients=max(events // 20, 10), seed=7)
            stack_note(f"coordination x{n}: publishing {len(history):,} events")
            cpu0 = [s.cpu_seconds() for s in coordination]
            with cpu_window() as busy:
                t0 = time.perf_counter()
                await publish(bootstrap, topics, history)
                while await timeline_count(pool) < len(history):
                    if time.perf_counter() - t0 > 600:
                        raise RuntimeError("projection did not finish in 600 s")
                    await asyncio.sleep(0.05)
                took = time.perf_counter() - t0
                machine = busy()
            line = ProjectionLine(n, len(history), took, cpu_rates(coordination, cpu0, took), machine)
            stack_note(f"coordination x{n}: {line.throughput:,.0f} events/s")
            await latency(client, pool, assessment, coordination, line, rate, seconds, patients)
            return line
    finally:
        await pool.close()
        await cleanup_run(env, run_id, ("assessment", "coordination"))


async def latency(client: httpx.AsyncClient, pool: asyncpg.Pool, assessment: Service,
                  coordination: Sequence[Service], line: ProjectionLine, rate: float, seconds: float,
                  patients: int) -> None:
    """Open-loop PHQ-9 commands; each timed until its timeline entry is there."""
    ids = await enroll(client, assessment, patients, concurrency=16)
    deadline = time.monotonic() + 60
    while int(await pool.fetchval("SELECT count(DISTINCT patient_id) FROM timeline_entries WHERE patient_id = ANY($1)",
                                  ids)) < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError("coordination did not learn the patients in 60 s")
        await asyncio.sleep(0.1)
    counts: dict[str, int] = dict.fromkeys(ids, 0)
    for r in await pool.fetch("SELECT patient_id, count(*) AS n FROM timeline_entries WHERE patient_id = ANY($1) "
                              "GROUP BY patient_id", ids):
        counts[r["patient_id"]] = int(r["n"])
    pending: dict[str, deque[float]] = defaultdict(deque)
    refused: Counter[str] = Counter()
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set() or any(pending.values()):
            rows = await pool.fetch("SELECT patient_id, count(*) AS n FROM timeline_entries "
                                    "WHERE patient_id = ANY($1) GROUP BY patient_id", ids)
            now = time.perf_counter()
            for r in rows:
                grown = int(r["n"]) - counts[r["patient_id"]]
                counts[r["patient_id"]] = int(r["n"])
                for _ in range(grown):
                    if pending[r["patient_id"]]:
                        line.latencies_ms.append((now - pending[r["patient_id"]].popleft()) * 1000)
            if stop.is_set() and time.perf_counter() > stopped_at + 30:
                return
            await asyncio.sleep(0.02)

    async def command(i: int) -> None:
        pid = ids[i % len(ids)]
        t0 = time.perf_counter()
        pending[pid].append(t0)
        try:
            resp = await client.post(f"{assessment.base}/v1/patients/{pid}/assessments", json={
                "instrument": "PHQ-9", "item_scores": POSITIVE,
                "administered_at": f"2026-06-01T{8 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"})
            status = str(resp.status_code)
        except httpx.TransportError as exc:
            status = type(exc).__name__
        if status != "201":
            refused[status] += 1
            with contextlib.suppress(ValueError):  # its place may already be taken by a later entry
                pending[pid].remove(t0)

    stopped_at = float("inf")
    poller = asyncio.create_task(poll())
    total = int(rate * seconds)
    cpu0 = [s.cpu_seconds() for s in coordination]
    a0 = assessment.cpu_seconds()
    try:
        with cpu_window() as busy:
            start = time.perf_counter()
            tasks = []
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(command(i)))
            await asyncio.gather(*tasks)
            window = time.perf_counter() - start
            line.latency_busy = busy()
    except BaseException:
        poller.cancel()
        raise
    line.latency_cpu = cpu_rates(coordination, cpu0, window)
    line.assessment_cpu = (assessment.cpu_seconds() - a0) / window
    stopped_at = time.perf_counter()
    stop.set()
    await poller
    line.commands, line.rate = total, total / window
    if refused:
        stack_note(f"coordination x{line.instances}: commands refused: {dict(refused)}")
    stack_note(f"coordination x{line.instances}: command → timeline p50 {pct(line.latencies_ms, 0.5):.0f} ms, "
               f"p99 {pct(line.latencies_ms, 0.99):.0f} ms ({len(line.latencies_ms)} of {total})")


async def pharmacy_steps(sizes: HttpSizes) -> list[CommandLine]:
    run_id = uuid.uuid4().hex[:8]
    names = ("assessment", "pharmacy")
    env = service_env(run_id, names)
    env["CARECOORD_RATE_LIMIT_PER_SECOND"] = "0"
    token = issue_token(env["CARECOORD_JWT_SECRET"], sub="bench-clinician", roles=["coordinator", "prescriber"],
                        clinics=[CLINIC], ttl_seconds=3600)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assessment = start_service("assessment", env)
    first = start_listener("pharmacy", env, port)
    started = [assessment, first]
    lines = []
    try:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
            await wait_ready(client, [assessment, first])
            conn = await asyncpg.connect(env["CARECOORD_PHARMACY_DATABASE_URL"],
                                         server_settings={"search_path": f"bench_{run_id}_pharmacy"})
            try:
                patients = await enroll(client, assessment, sizes.patients, sizes.workers)
                await wait_directory(conn, patients)
            finally:
                await conn.close()
            instances = [first]
            for n in (1, 2):
                if n == 2:
                    second = start_listener("pharmacy", env, port)
                    started.append(second)
                    await wait_ready(client, [second])
                    instances.append(second)
                clients: list[LoadClient] = [RawConnection("127.0.0.1", port, {"Authorization": f"Bearer {token}"})
                                             for _ in range(sizes.workers)]
                try:
                    if n == 1:
                        refs = await DOSE_ADJUSTMENTS.prepare(client, first, patients, clients)
                        owned = [refs[w::sizes.workers] for w in range(sizes.workers)]
                    accepted = [0]
                    request = DOSE_ADJUSTMENTS.requester(clients, owned, accepted)
                    total = Summed(instances)
                    await closed_loop("warm-up", sizes.workers, sizes.warmup, request, total, record=False)  # type: ignore[arg-type]
                    cpu0 = [s.cpu_seconds() for s in instances]
                    load = await closed_loop(f"x{n}", sizes.workers, sizes.duration, request, total)  # type: ignore[arg-type]
                finally:
                    for c in clients:
                        await c.close()
                lines.append(CommandLine(n, load.rate, load.percentile(50), load.percentile(99), load.error_count,
                                         cpu_rates(instances, cpu0, load.elapsed), load.machine_busy))
                stack_note(f"pharmacy x{n}: {load.rate:,.0f} dose adjustments/s, p50 {load.percentile(50):.1f} ms")
    finally:
        await asyncio.to_thread(stop_services, started)
        await cleanup_run(env, run_id, names)
    return lines


class Summed:
    """The CPU of several instances as one (what closed_loop reads from its service)."""

    def __init__(self, services: Sequence[Service]) -> None:
        self.services = services

    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds() for s in self.services)


async def cleanup_run(env: dict[str, str], run_id: str, names: Sequence[str]) -> None:
    from tests.bench.http_pharmacy import cleanup

    await cleanup(env, run_id, names)


def stack_note(msg: str) -> None:
    print(f"[scaling] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def render(coord: list[ProjectionLine], pharmacy: list[CommandLine], rate: float) -> str:
    def cpus(values: Sequence[float]) -> str:
        return " + ".join(f"{v * 100:.0f}%" for v in values)

    out = ["| coordination instances | projection events/s | instances' CPU (of one core each) | machine busy "
           f"| command → timeline at {rate:.0f}/s: p50 ms | p90 ms | p99 ms | seen | instances' CPU | assessment CPU "
           "| machine busy |",
           "|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for c in coord:
        out.append(f"| {c.instances} | {c.throughput:,.0f} | {cpus(c.instance_cpu)} | {c.machine_busy * 100:.0f}% "
                   f"| {pct(c.latencies_ms, 0.5):,.0f} | {pct(c.latencies_ms, 0.9):,.0f} "
                   f"| {pct(c.latencies_ms, 0.99):,.0f} "
                   f"| {len(c.latencies_ms)}/{c.commands} | {cpus(c.latency_cpu)} | {c.assessment_cpu * 100:.0f}% "
                   f"| {c.latency_busy * 100:.0f}% |")
    out += ["", "| pharmacy instances (one address) | dose adjustments/s | p50 ms | p99 ms | errors "
                "| instances' CPU | machine busy |", "|---:|---:|---:|---:|---:|---|---:|"]
    for p in pharmacy:
        out.append(f"| {p.instances} | {p.rate:,.0f} | {p.p50:.1f} | {p.p99:.1f} | {p.errors} "
                   f"| {cpus(p.instance_cpu)} | {p.machine_busy * 100:.0f}% |")
    return "\n".join(out)


async def run(quick: bool) -> str:
    events, rate, seconds, patients = (4000, 50.0, 8.0, 100) if quick else (12000, 100.0, 15.0, 200)
    sizes = HttpSizes(patients=400, workers=16, warmup=2.0, duration=5.0 if quick else 15.0, single=0.0)
    before = loadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    coord = [await coordination_step(n, events, rate, seconds, patients) for n in (1, 2, 3)]
    pharmacy = await pharmacy_steps(sizes)
    head = (f"bench-scaling {started}, {os.cpu_count()} CPUs, load average {before} before, {loadavg()} after; "
            f"{PARTITIONS} partitions per topic")
    return head + "\n\n" + render(coord, pharmacy, rate)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (about a minute)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_reuseport(args.serve, args.port)
        return 0
    try:
        with stack.session(keep=os.environ.get("KEEP_STACK") == "1") as env:
            os.environ.update(env)
            print(asyncio.run(run(args.quick)))
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
