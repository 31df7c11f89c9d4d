"""End-to-end flag latency: an HTTP command on a clinical service to the flag event on
``carecoord.coordination.flags.v1``, at a steady open-loop rate (issue 11, item 6).

Assessment and coordination run as processes (as ``make up`` runs them). Each patient gets
PHQ-9s alternating item 9 > 0 and item 9 = 0, so every command changes a ``safety`` flag:
a positive raises one (RiskFlagRaised), the next negative resolves it (RiskFlagResolved).
Commands are sent open loop (a fixed schedule, not waiting for answers) at ``rate`` a second
over ``patients`` patients, so one patient's commands are ``patients / rate`` seconds
apart; a consumer of the flags topic matches each flag event to the oldest unanswered
command of its patient (key = patient id). Beside it, in the same run: the HTTP answer time
of the same commands, and a bare Kafka produce → consume at the same rate, the floor any
path through the broker pays.

Standalone: ``python -m tests.bench.flag_latency [--quick]`` with the stack's environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer

from shared.auth import issue_token
from shared.kafka.clients import ensure_topics, make_producer
from shared.kafka.security import client_security
from tests.bench.common import progress
from tests.bench.http_pharmacy import CLINIC, cleanup, enroll, running_services, service_env, wait_ready

POSITIVE = [1, 1, 1, 1, 1, 1, 1, 1, 1]
NEGATIVE = [1, 1, 1, 1, 1, 1, 1, 1, 0]


@dataclass
class LatencyReport:
    rate: float
    sent: int
    answered: int
    matched: int
    flag_ms: list[float]
    http_ms: list[float]
    kafka_ms: list[float]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _flag_consumer(bootstrap: str, topic: str, pending: dict[str, deque[float]], latencies: list[float],
                         stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(topic, **client_security(),
                                bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest",
                                fetch_max_wait_ms=20)
    await consumer.start()
    try:
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for r in records:
                    queue = pending.get(r.key.decode()) if r.key else None
                    if queue:
                        latencies.append((now - queue.popleft()) * 1000)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


async def _kafka_floor(bootstrap: str, topic: str, rate: float, seconds: float) -> list[float]:
    """Produce → consume latency of bare records at the same rate: the broker's share."""
    await ensure_topics(bootstrap, [topic], partitions=6)
    consumer = AIOKafkaConsumer(topic, **client_security(),
                                bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest",
                                fetch_max_wait_ms=20)
    await consumer.start()
    await asyncio.sleep(1.0)  # assignment before the first record
    producer = make_producer(bootstrap)
    await producer.start()
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    stop = asyncio.Event()

    async def consume() -> None:
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for r in records:
                    if r.value in sent:
                        latencies.append((now - sent.pop(r.value)) * 1000)

    task = asyncio.create_task(consume())
    try:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            value = f"{i}".encode()
            sent[value] = time.perf_counter()
            await producer.send(topic, value=value, key=f"k{i % 50}".encode())
        await asyncio.sleep(2.0)
    finally:
        stop.set()
        await task
        await producer.stop()
        # aiokafka's fetcher may still be backing off; stopping it then raises CancelledError.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    return latencies


async def bench_flag_latency(rate: float = 200.0, seconds: float = 20.0, patients: int = 200) -> LatencyReport:
    run_id = uuid.uuid4().hex[:8]
    names = ("assessment", "coordination")
    env = service_env(run_id, names)
    env["CARECOORD_COORDINATION_RULES_TICK_SECONDS"] = "3600"  # commands, not the tick, raise these flags
    bootstrap = env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"]
    token = issue_token(env["CARECOORD_JWT_SECRET"], sub="bench-clinician", roles=["coordinator", "assessor"],
                        clinics=[CLINIC], ttl_seconds=3600)
    flags_topic = f"bench{run_id}.carecoord.coordination.flags.v1"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with running_services(env, names) as svc, httpx.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30.0) as client:
            assessment, coordination = svc["assessment"], svc["coordination"]
            await wait_ready(client, [assessment, coordination])
            ids = await enroll(client, assessment, patients, concurrency=16)
            progress(f"flags: {patients} patients enrolled; waiting for coordination to know them")
            deadline = time.monotonic() + 60
            for pid in ids:
                while (await client.get(f"{coordination.base}/v1/patients/{pid}/summary")).status_code != 200:
                    if time.monotonic() > deadline:
                        raise RuntimeError("coordination did not learn the patients in 60 s")
                    await asyncio.sleep(0.1)
            await ensure_topics(bootstrap, [flags_topic], partitions=6)
            pending: dict[str, deque[float]] = defaultdict(deque)
            flag_ms: list[float] = []
            http_ms: list[float] = []
            stop = asyncio.Event()
            consumer = asyncio.create_task(_flag_consumer(bootstrap, flags_topic, pending, flag_ms, stop))
            await asyncio.sleep(1.0)
            answered = 0

            async def command(i: int) -> None:
                nonlocal answered
                pid = ids[i % patients]
                positive = (i // patients) % 2 == 0
                t0 = time.perf_counter()
                pending[pid].append(t0)
                resp = await client.post(f"{assessment.base}/v1/patients/{pid}/assessments", json={
                    "instrument": "PHQ-9", "item_scores": POSITIVE if positive else NEGATIVE,
                    "administered_at": f"2026-06-01T08:{(i // patients) % 60:02d}:00Z"})
                http_ms.append((time.perf_counter() - t0) * 1000)
                if resp.status_code == 201:
                    answered += 1

            progress(f"flags: {rate:.0f} commands/s for {seconds:.0f} s, open loop")
            total = int(rate * seconds)
            start = time.perf_counter()
            tasks = []
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(command(i)))
            await asyncio.gather(*tasks)
            await asyncio.sleep(5.0)  # the last flags
            stop.set()
            await consumer
        progress("flags: bare Kafka produce → consume at the same rate")
        kafka_ms = await _kafka_floor(bootstrap, f"bench{run_id}.floor", rate, min(seconds, 10.0))
        return LatencyReport(rate, total, answered, len(flag_ms), flag_ms, http_ms, kafka_ms)
    finally:
        await cleanup(env, run_id, names)


def render(r: LatencyReport) -> str:
    rows = [("HTTP command → flag event on the flags topic", r.flag_ms),
            ("HTTP command answered (same commands)", r.http_ms),
            ("bare Kafka produce → consume (same rate)", r.kafka_ms)]
    lines = [f"flag latency at {r.rate:.0f} commands/s open loop: {r.sent} sent, {r.answered} answered 201, "
             f"{r.matched} flag events matched",
             "| path | p50 ms | p90 ms | p99 ms | max ms | n |", "|---|--:|--:|--:|--:|--:|"]
    for name, values in rows:
        lines.append(f"| {name} | {pct(values, 0.5):.0f} | {pct(values, 0.9):.0f} | {pct(values, 0.99):.0f} | "
                     f"{max(values, default=float('nan')):.0f} | {len(values)} |")
    if r.flag_ms:
        lines.append(f"mean flag latency {statistics.fmean(r.flag_ms):.0f} ms; aim: p99 < 250 ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flag_latency", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8 s instead of 20 s")
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args(argv)
    report = asyncio.run(bench_flag_latency(rate=args.rate, seconds=8.0 if args.quick else 20.0))
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
