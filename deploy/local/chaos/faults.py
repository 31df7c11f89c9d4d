"""The fault schedule, its injection, and the time each fault took to recover from.

A clinical service is killed at a random moment or, every other time, at the one a signal
from outside cannot aim at: its relay stopped dead between the broker's ack of a batch and
the outbox mark (``kill_after_ack``, the service's own fault point, shared.faultpoints).

Recovered means: a killed service answers /ready again (its relay and consumers running); a
broker answers again and every partition of the run's topics is back to three in-sync
replicas; after a network cut, the cut-off service's relay has published again; after a
PostgreSQL restart, every service answers /ready, every outbox holds nothing recorded before
the database was back, and every consumer group has read what its topics held then.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import faultpoints
from shared.kafka.security import client_security

from . import platform as pf
from .proxy import Proxy

stack = pf.stack
SERVICE_KILLS = ("coordination", "assessment", "pharmacy", "therapy")
RECOVERY_TIMEOUT = 240.0
PG_MODES = ("immediate", "fast")  # pg_ctl stop -m: a crash, a clean shutdown
PG_DOWN_SECONDS = 3.0
RECORDED_BEFORE = "e.recorded_at < now() - make_interval(secs => $1)"  # $1 seconds ago
FIRE_TIMEOUT = 30.0  # an armed fault point fires at the relay's next batch: seconds under load


@dataclass
class Fault:
    kind: str  # kill, kill_after_ack, broker_kill, broker_restart, network_cut, pg_restart
    target: str
    injected_at: float = 0.0  # seconds from the start of the load
    recovered_after: float | None = None  # seconds from the injection (from the end of a cut)
    detail: dict[str, Any] = field(default_factory=dict)


def schedule(coordination: int, clinical: int, broker_kills: int, broker_restarts: int, cuts: int,
             pg_restarts: int = 0, seed: int = 16) -> list[Fault]:
    """Every fault once per count, shuffled, with the broker and PostgreSQL faults spread so
    two are never due together (each waits for the previous one's recovery anyway). PostgreSQL
    restarts alternate: a crash (immediate stop) first, then a clean (fast) shutdown."""
    faults = [Fault("kill", "coordination") for _ in range(coordination)]
    # every other kill of a clinical service between the broker's ack and the outbox mark
    faults += [Fault("kill_after_ack" if (i + j) % 2 == 0 else "kill", s)
               for j, s in enumerate(SERVICE_KILLS[1:]) for i in range(clinical)]
    faults += [Fault("network_cut", pf.PROXIED) for _ in range(cuts)]
    random.Random(seed).shuffle(faults)
    brokers = [Fault("broker_kill", "leader") for _ in range(broker_kills)]
    brokers += [Fault("broker_restart", "any") for _ in range(broker_restarts)]
    # after the first broker fault: the load is well under way when the database goes
    for i in range(pg_restarts):
        brokers.insert(min(len(brokers), 2 * i + 1), Fault("pg_restart", PG_MODES[i % 2]))
    step = max(1, len(faults) // (len(brokers) + 1))
    for i, fault in enumerate(brokers):
        faults.insert(min(len(faults), (i + 1) * step + i), fault)
    return faults


class Observer:
    """The run's view of the cluster, as the admin: group lag, leaders, in-sync replicas."""

    def __init__(self, bootstrap: str, namespace: str) -> None:
        self.bootstrap, self.namespace = bootstrap, namespace
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **client_security())
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=5000,
                                         **client_security())
        self.max_lag: dict[str, int] = {}
        self._partitions: dict[str, list[int]] = {}
        self.samples: list[tuple[float, dict[str, int]]] = []

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.admin.close()
        with contextlib.suppress(Exception):
            await self.consumer.stop()

    async def groups(self) -> list[str]:
        return sorted(g[0] for g in await self.admin.list_consumer_groups()
                      if g[0].startswith(self.namespace) and "replay" not in g[0])

    async def lag(self) -> dict[str, int]:
        """Per consumer group of the run: end offsets minus committed offsets, over every
        partition of the topics it has committed on."""
        out = {}
        for group in await self.groups():
            committed = await self.admin.list_consumer_group_offsets(group)
            topics = sorted({tp.topic for tp in committed})
            if topics and not set(topics) <= set(self._partitions):
                for t in await self.admin.describe_topics(topics):
                    self._partitions[t["topic"]] = [p["partition"] for p in t["partitions"]]
            tps = [TopicPartition(t, p) for t in topics for p in self._partitions.get(t, ())]
            if not tps:
                continue
            ends = await self.consumer.end_offsets(tps)
            out[group.removeprefix(self.namespace)] = sum(
                ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps)
        return out

    async def ends(self, group: str) -> dict[TopicPartition, int]:
        """The end offsets of the topics ``group`` reads, now."""
        committed = await self.admin.list_consumer_group_offsets(group)
        return await self.consumer.end_offsets(list(committed))

    async def reached(self, group: str, ends: dict[TopicPartition, int]) -> bool:
        committed = await self.admin.list_consumer_group_offsets(group)
        return all(tp in committed and committed[tp].offset >= end for tp, end in ends.items())

    async def sample(self, since: float) -> dict[str, int] | None:
        try:
            lag = await asyncio.wait_for(self.lag(), 10)
        except Exception:  # a broker away: no sample this time
            return None
        self.samples.append((round(time.monotonic() - since, 1), lag))
        for group, n in lag.items():
            self.max_lag[group] = max(self.max_lag.get(group, 0), n)
        return lag

    async def topics(self) -> list[str]:
        return [t for t in await self.admin.list_topics() if t.startswith(self.namespace)]

    async def leader(self, topic: str, partition: int = 0) -> int:
        described = await self.admin.describe_topics([topic])
        return next(p["leader"] for p in described[0]["partitions"] if p["partition"] == partition)

    async def fully_replicated(self) -> bool:
        described = await self.admin.describe_topics(await self.topics())
        return all(len(p["isr"]) == len(p["replicas"]) for t in described for p in t["partitions"])


async def until(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until ``check`` holds, or None when ``timeout`` passes first."""
    t0 = time.monotonic()
    while (left := timeout - (time.monotonic() - t0)) > 0:
        # each try bounded too: an admin request to a cluster in trouble can wait for ever
        with contextlib.suppress(Exception):
            if await asyncio.wait_for(check(), max(left, interval)):
                return time.monotonic() - t0
        await asyncio.sleep(interval)
    return None


class Injector:
    def __init__(self, platform: pf.Platform, proxy: Proxy, observer: Observer, t0: float,
                 say: Callable[[str], None], cut_seconds: float = 8.0) -> None:
        self.platform, self.proxy, self.observer, self.t0, self.say = platform, proxy, observer, t0, say
        self.cut_seconds = cut_seconds
        self.done: list[Fault] = []
        self._broker: asyncio.Task[None] | None = None  # a broker fault still recovering

    async def inject(self, fault: Fault) -> None:
        fault.injected_at = round(time.monotonic() - self.t0, 1)
        self.done.append(fault)
        if fault.kind in ("kill", "kill_after_ack"):
            await self._kill(fault)
        elif fault.kind == "network_cut":
            await self._cut(fault)
        elif fault.kind == "pg_restart":
            if self._broker is not None:
                await self._broker  # one piece of infrastructure away at a time
                fault.injected_at = round(time.monotonic() - self.t0, 1)
            await self._pg_restart(fault)
        else:
            if self._broker is not None:
                await self._broker  # one broker away at a time: the quorum and min.insync need two
                fault.injected_at = round(time.monotonic() - self.t0, 1)
            self._broker = asyncio.create_task(self._broker_fault(fault))
        self.say(f"[chaos] {fault.kind} {fault.target} at {fault.injected_at} s")

    async def drain(self) -> None:
        if self._broker is not None:
            await self._broker

    async def _kill(self, fault: Fault) -> None:
        sup = self.platform.supervisor
        if fault.target == "coordination":
            # mid-batch: when its projection has records to work on
            async def busy() -> bool:
                lag = await self.observer.lag()
                return lag.get("coordination", 0) > 0
            fault.detail["lag_at_kill"] = (await self.observer.lag()).get("coordination") if await until(
                busy, 5, 0.1) is not None else 0
        child = sup.children[fault.target]
        pf_pid = child.proc.pid
        acked: list[str] = []
        if fault.kind == "kill_after_ack":
            acked = await self._after_ack(fault, pf_pid)
        else:
            os.killpg(pf_pid, signal.SIGKILL)

        async def back() -> bool:
            return child.restarts > 0 and child.proc.pid != pf_pid and await asyncio.to_thread(
                pf.ready, self.platform.ports[fault.target])
        fault.recovered_after = _round(await until(back, RECOVERY_TIMEOUT))
        if fault.target != "coordination" and fault.recovered_after is not None:
            # the restart as coordination's /ready shows it (peers: what the supervisor wrote)
            async def seen() -> bool:
                peers = await asyncio.to_thread(pf.ready_peers, self.platform.ports["coordination"])
                return peers.get(fault.target, {}).get("restarts", 0) >= child.restarts
            fault.detail["seen_in_coordination_ready"] = await until(seen, 15) is not None
        if acked and fault.recovered_after is not None:
            # the batch acknowledged but not marked is published again by the restarted relay
            async def republished() -> bool:
                return await self._unsent(fault.target, "e.event_id = ANY($1::uuid[])", acked) == 0
            fault.detail["republished"] = await until(republished, RECOVERY_TIMEOUT) is not None

    async def _after_ack(self, fault: Fault, pid: int) -> list[str]:
        """Arm the service's fault point and wait for its relay to die on it; the ids of the
        batch it had acknowledged and not marked. A point that does not fire in time (nothing to
        publish) is disarmed and the service killed from outside instead."""
        folder = self.platform.fault_points
        arm, record = (faultpoints.armed(folder, fault.target, faultpoints.RELAY_AFTER_ACK),
                       faultpoints.fired(folder, fault.target, faultpoints.RELAY_AFTER_ACK))
        record.unlink(missing_ok=True)
        arm.touch()

        async def fired() -> bool:
            return record.exists()
        if await until(fired, FIRE_TIMEOUT, 0.05) is None:
            arm.unlink(missing_ok=True)
            fault.detail["fired"] = False
            os.killpg(pid, signal.SIGKILL)
            return []
        acked = record.read_text().split()
        fault.detail.update(fired=True, acknowledged_not_marked=len(acked))
        return acked

    async def _unsent(self, service: str, where: str, *args: Any) -> int:
        """Outbox rows of ``service`` not yet sent (nor parked) whose events match ``where``."""
        import asyncpg

        conn = await asyncpg.connect(pf.owner_url(service).split("?")[0])
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM outbox o JOIN events e USING (global_position) "
                f"WHERE o.sent_at IS NULL AND o.parked_at IS NULL AND {where}", *args))
        finally:
            await conn.close()

    async def _cut(self, fault: Fault) -> None:
        self.proxy.cut()
        await asyncio.sleep(self.cut_seconds)
        self.proxy.resume()
        resumed = time.monotonic()
        fault.detail["cut_seconds"] = self.cut_seconds
        group = self.platform.group(f"{fault.target}.patient-directory")
        ends = await self.observer.ends(group)

        async def caught_up() -> bool:
            """What it recorded before the cut ended is published, and its consumer has read
            what its topics held when the cut ended."""
            waiting = await self._unsent(fault.target, RECORDED_BEFORE, time.monotonic() - resumed)
            return waiting == 0 and await self.observer.reached(group, ends)
        fault.recovered_after = _round(await until(caught_up, RECOVERY_TIMEOUT))

    async def _broker_fault(self, fault: Fault) -> None:
        nodes = pf.nodes()
        if fault.kind == "broker_kill":
            topic = f"{self.platform.namespace}carecoord.assessment.events.v1"
            leader = await self.observer.leader(topic)
            node = next(n for n in nodes if n.node_id == leader)
            fault.detail["leader_of"] = f"{topic.removeprefix(self.platform.namespace)}/0"
            pid = stack.kafka_pid(node)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(3)  # down a while, as a crashed machine is
        else:
            node = nodes[len(self.done) % len(nodes)]
            await asyncio.to_thread(stack.kafka_stop, node)
        fault.target = f"node-{node.node_id}"
        started = time.monotonic()
        await asyncio.to_thread(stack.kafka_start, 240.0, node)
        fault.detail["broker_back_after"] = round(time.monotonic() - started, 1)
        waited = await until(self.observer.fully_replicated, RECOVERY_TIMEOUT, 1.0)
        fault.recovered_after = None if waited is None else round(time.monotonic() - started, 1)
        self.say(f"[chaos] {fault.kind} {fault.target}: back in {fault.detail['broker_back_after']} s, "
                 f"fully replicated after {fault.recovered_after} s")

    async def _pg_restart(self, fault: Fault) -> None:
        """Stop the run's PostgreSQL (a crash or a clean shutdown), leave it down a while, start
        it again (recovering from the write-ahead log after a crash)."""
        injected = time.monotonic()
        await asyncio.to_thread(pf.pg.stop, fault.target)
        fault.detail["mode"] = fault.target
        await asyncio.sleep(PG_DOWN_SECONDS)
        fault.detail["down_s"] = round(time.monotonic() - injected, 1)
        fault.detail["start_s"] = round(await asyncio.to_thread(pf.pg.start), 1)
        fault.target = "postgres"
        back = time.monotonic()
        groups = await self.observer.groups()
        ends = {g: await self.observer.ends(g) for g in groups}

        async def recovered() -> bool:
            """Every service ready, every outbox published what was recorded before the
            database was back, every group read what its topics held then."""
            if not all(await asyncio.gather(*(asyncio.to_thread(pf.ready, p) for p in self.platform.ports.values()))):
                return False
            fault.detail.setdefault("ready_after", round(time.monotonic() - injected, 1))
            for service in pf.SERVICE_NAMES:
                if await self._unsent(service, RECORDED_BEFORE, time.monotonic() - back):
                    return False
            return all([await self.observer.reached(g, e) for g, e in ends.items()])
        waited = await until(recovered, RECOVERY_TIMEOUT)
        fault.recovered_after = None if waited is None else round(time.monotonic() - injected, 1)
        self.say(f"[chaos] pg_restart ({fault.detail['mode']}): accepting connections after "
                 f"{fault.detail['down_s'] + fault.detail['start_s']:.1f} s, recovered after {fault.recovered_after} s")


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)
