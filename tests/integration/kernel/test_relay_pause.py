"""A relay process paused (SIGSTOP) while it holds the leader lock — an orchestrator freezing
a container, a VM stalled — must not stop publishing for good: the server ends its idle
session, the lock goes with it, and a standby takes over within seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import asyncpg
from kernel_support import ROOT, envelopes, running, topic_name, unsent, wait_for

from shared.eventstore import PostgresEventStore
from shared.kafka.clients import ensure_topics
from shared.outbox import OutboxRelay
from shared.outbox.relay import LEADER_IDLE_TIMEOUT

WORKER = Path(__file__).with_name("relay_pause_worker.py")


async def test_a_standby_takes_over_from_a_paused_leader_within_seconds(
        pool: asyncpg.Pool, schema: str, pg_url: str, kafka_bootstrap: str, namespace: str,
        tmp_path: Path) -> None:
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    store = PostgresEventStore(pool, topic)
    await store.migrate()
    await store.append("patient-1", 0, envelopes("patient-1", 3))

    marker = tmp_path / "leading"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), pg_url, schema, kafka_bootstrap, str(marker),
        env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=asyncio.subprocess.PIPE)
    try:
        async def leading() -> bool:
            assert proc.returncode is None, "the relay process died on its own"
            return marker.exists()
        await wait_for(leading, 30, "the relay process to lead and publish")
        await wait_for(lambda: _none_unsent(pool), 10, "the leader to drain the outbox")

        proc.send_signal(signal.SIGSTOP)
        await store.append("patient-1", 3, envelopes("patient-1", 3, start=4))
        paused_at = time.monotonic()
        async with running(OutboxRelay(pool, kafka_bootstrap).run):
            await wait_for(lambda: _none_unsent(pool), LEADER_IDLE_TIMEOUT + 15,
                           "a standby to publish what the paused leader cannot")
        took_over = time.monotonic() - paused_at
        assert took_over < LEADER_IDLE_TIMEOUT + 10
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            proc.send_signal(signal.SIGCONT)
        await proc.communicate()


async def _none_unsent(pool: asyncpg.Pool) -> bool:
    return await unsent(pool) == 0
