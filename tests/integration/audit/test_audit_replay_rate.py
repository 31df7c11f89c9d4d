"""The rate of ``carecoord replay`` on a large history (issue 12 asks for ≥ 100,000 events).

Skipped unless ``CARECOORD_REPLAY_EVENTS`` names the size (e.g. 100000; ``CARECOORD_REPLAY_WORKERS``
the processes): it publishes that many synthetic events (20 a patient, on the four topics), lets
the live coordination service project them (rules on), then rebuilds and swaps, and prints the
projection's rate, the flag evaluation's time and the checksums, which must be equal.
"""

from __future__ import annotations

import os
import time

import pytest

from services.coordination.app import create_app
from services.coordination.replay.rebuild import rebuild, topics
from services.coordination.settings import CoordinationSettings
from shared.kafka.clients import ensure_topics
from tests.bench.coordination import publish, synthetic_history
from tests.support.services import make_settings, running, wait_until

EVENTS = int(os.environ.get("CARECOORD_REPLAY_EVENTS", "0"))
WORKERS = int(os.environ.get("CARECOORD_REPLAY_WORKERS", "1"))


@pytest.mark.skipif(EVENTS <= 0, reason="set CARECOORD_REPLAY_EVENTS to measure the replay")
async def test_replay_rate(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    settings = CoordinationSettings(**{**make_settings("coordination", pg_url=pg_url, kafka=kafka_bootstrap,
                                                       schema=schema, namespace=namespace).model_dump(),
                                       "rules_tick_seconds": 3600.0, "topic_partitions": 6})
    events = synthetic_history(patients=max(EVENTS // 20, 1), seed=12)
    await ensure_topics(kafka_bootstrap, topics(settings), settings.topic_partitions)
    started = time.monotonic()
    await publish(kafka_bootstrap, dict(zip(("assessment", "pharmacy", "therapy", "coordination"), topics(settings),
                                            strict=True)), events)
    print(f"\npublished {len(events):,} events in {time.monotonic() - started:.1f} s")
    async with running(create_app, settings) as (app, _):
        pool = app.state.runtime.pool
        started = time.monotonic()

        async def projected() -> bool:
            return int(await pool.fetchval("SELECT count(*) FROM timeline_entries")) >= len(events)
        await wait_until(projected, timeout=1800, interval=1.0)
        live = time.monotonic() - started
        print(f"live projection (rules on): {len(events):,} events in {live:.1f} s ({len(events) / live:,.0f}/s)")
        report = await rebuild(settings, swap=True, workers=WORKERS)
    print(f"replay ({WORKERS} worker(s)): {report.events:,} events in {report.seconds:.1f} s "
          f"({report.rate:,.0f} events/s); {report.flags:,} flags in {report.flags_seconds:.1f} s; "
          f"swapped {report.swapped}")
    for name, digest in report.live.items():
        print(f"  {name}: live {digest} rebuilt {report.rebuilt[name]}")
    assert report.events == len(events) and report.equal and report.swapped
