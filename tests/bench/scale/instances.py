"""Projection and replay with 1, 2 and 3 coordination instances.

Built from deploy/local/bench_scaling.py's pieces (its services, consumer-group settling,
timeline count and CPU accounting; the history of tests/bench/coordination.py): each step
starts ``n`` coordination processes in one consumer group on a fresh namespace, publishes the
synthetic history once every instance holds partitions and times it until the timeline has
every event. The instances are then stopped and ``carecoord replay --verify-only --workers n``
(``services.coordination.replay.rebuild``) rebuilds the read models from the same topics into
a scratch schema: its rate is the bulk phase's (offset 0 to the ends), and the checksums
against what the instances projected must be equal.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import asyncpg
import httpx

from services.coordination.replay.rebuild import rebuild
from services.coordination.settings import CoordinationSettings
from shared.auth import issue_token
from shared.kafka.clients import ensure_topics
from tests.bench.coordination import publish, synthetic_history
from tests.bench.http_pharmacy import CLINIC, Service, cpu_window, service_env, start_service, wait_ready
from tests.bench.scale.memory import rss_bytes
from tests.support.local_stack import load_local


def bench_scaling() -> ModuleType:
    """deploy/local/bench_scaling.py (deploy/local is no package)."""
    return load_local("bench_scaling")


@dataclass
class InstancesLine:
    instances: int
    events: int
    projection_seconds: float
    instance_cpu: list[float]
    machine_busy: float
    replay_events: int = 0
    replay_seconds: float = 0.0
    replay_equal: bool | None = None
    rss_before: list[int] = field(default_factory=list)  # each instance, ready and idle
    rss_after: list[int] = field(default_factory=list)  # each instance, after projecting the history

    @property
    def projection_rate(self) -> float:
        return self.events / self.projection_seconds

    @property
    def replay_rate(self) -> float:
        return self.replay_events / self.replay_seconds if self.replay_seconds > 0 else 0.0


@contextmanager
def environment(values: dict[str, str]) -> Any:
    """os.environ with ``values`` for the duration (the replay reads coordination's settings)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def step(n: int, events: int) -> InstancesLine:
    scaling = bench_scaling()
    run_id = uuid.uuid4().hex[:8]
    env = service_env(run_id, ("coordination",))
    env["CARECOORD_COORDINATION_RULES_TICK_SECONDS"] = "3600"  # events, not the tick, do the work
    env["CARECOORD_TOPIC_PARTITIONS"] = str(scaling.PARTITIONS)
    env["CARECOORD_RATE_LIMIT_PER_SECOND"] = "0"
    bootstrap = env["CARECOORD_KAFKA_BOOTSTRAP_SERVERS"]
    namespace = env["CARECOORD_TOPIC_NAMESPACE"]
    topics = {s: f"{namespace}carecoord.{s}.events.v1" for s in scaling.SOURCES}
    await ensure_topics(bootstrap, list(topics.values()), partitions=scaling.PARTITIONS)
    token = issue_token(env["CARECOORD_JWT_SECRET"], sub="bench-clinician", roles=["coordinator"],
                        clinics=[CLINIC, "clinic-a"], ttl_seconds=3600)
    schema = f"bench_{run_id}_coordination"
    pool = await asyncpg.create_pool(env["CARECOORD_COORDINATION_DATABASE_URL"], min_size=1, max_size=2,
                                     server_settings={"search_path": schema})
    # Made here, before the instances start: each would otherwise race the others to create it.
    await pool.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    coordination: list[Service] = [start_service("coordination", env) for _ in range(n)]
    try:
        async with scaling.processes(*coordination), httpx.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
            await wait_ready(client, coordination)
            await scaling.wait_assigned(client, coordination, scaling.PARTITIONS * len(scaling.SOURCES))
            history = synthetic_history(patients=max(events // 20, 10), seed=7)
            scaling.stack_note(f"coordination x{n}: publishing {len(history):,} events")
            rss_before = [rss_bytes(s.proc.pid) for s in coordination]
            cpu0 = [s.cpu_seconds() for s in coordination]
            with cpu_window() as busy:
                t0 = time.perf_counter()
                await publish(bootstrap, topics, history)
                while await scaling.timeline_count(pool) < len(history):
                    if time.perf_counter() - t0 > 900:
                        raise RuntimeError("projection did not finish in 900 s")
                    await asyncio.sleep(0.05)
                took = time.perf_counter() - t0
                machine = busy()
            line = InstancesLine(n, len(history), took, scaling.cpu_rates(coordination, cpu0, took), machine,
                                 rss_before=rss_before, rss_after=[rss_bytes(s.proc.pid) for s in coordination])
            scaling.stack_note(f"coordination x{n}: {line.projection_rate:,.0f} events/s projected")
        # The instances are stopped: the replay has the machine to itself, as in a maintenance window.
        with environment({"CARECOORD_COORDINATION_DATABASE_SCHEMA": schema, "CARECOORD_TOPIC_NAMESPACE": namespace,
                          "CARECOORD_COORDINATION_RULES_TICK_SECONDS": "3600"}):
            report = await rebuild(CoordinationSettings(), swap=False, workers=n)
        line.replay_events, line.replay_seconds, line.replay_equal = report.events, report.seconds, report.equal
        scaling.stack_note(f"coordination x{n}: replay {report.rate:,.0f} events/s, checksums "
                           f"{'equal' if report.equal else 'DIFFER'}")
        return line
    finally:
        await pool.close()
        await scaling.cleanup_run(env, run_id, ("coordination",))


async def measure(events: int, counts: Sequence[int] = (1, 2, 3)) -> list[InstancesLine]:
    return [await step(n, events) for n in counts]
