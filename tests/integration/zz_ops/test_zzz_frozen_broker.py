"""A frozen broker, as an operator sees it on /metrics: the local Kafka broker is stopped with
SIGSTOP (a hung broker: connections stay open, nothing answers) while commands keep being
accepted. The outbox backlog and the age of its oldest unsent row grow; /metrics still
answers; once the broker is resumed both fall back to zero. Coordination's projection is
held back meanwhile, so the published records show as its consumer lag, which falls to zero
once it is let go.

Named to run after every other test: it freezes the shared broker (and always resumes it)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

import asyncpg

from shared.db import plain_dsn
from tests.integration.ops.ops_support import Families, assess, enroll, scrape, services, total, value
from tests.support import local_stack
from tests.support.services import wait_until

ROOT = Path(__file__).resolve().parents[3]
ROUNDS = 3
PER_ROUND = 4


def _stack() -> ModuleType:
    return local_stack.load_stack()


async def test_outbox_backlog_age_and_consumer_lag_move_with_a_frozen_broker(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    pid = _stack().kafka_pid()
    assert pid is not None, "this test needs the local stack's own broker"
    async with services(("assessment", "coordination"), pg_url=pg_url, kafka=kafka_bootstrap, schema=schema,
                        namespace=namespace) as s:
        assessment, coordination = s["assessment"].client, s["coordination"].client
        patient = await enroll(assessment)

        def drained(applied: float) -> Callable[[], Awaitable[Families | None]]:
            async def check() -> Families | None:
                a, c = await scrape(assessment), await scrape(coordination)
                ok = (value(a, "carecoord_outbox_backlog") == 0 and c.get("carecoord_consumer_lag")
                      and total(c, "carecoord_consumer_lag") == 0
                      and total(c, "carecoord_projection_events_applied_total") >= applied)
                return c if ok else None
            return check

        before = await wait_until(drained(1), timeout=60, interval=0.3)
        applied_before = total(before, "carecoord_projection_events_applied_total")

        seen: list[tuple[float, float]] = []
        # Coordination's projection is held back too (its tracking table locked), so the records
        # the relay publishes after the thaw wait as consumer lag that a scrape can see.
        holder = await asyncpg.connect(plain_dsn(pg_url), server_settings={"search_path": f"{schema}_coordination"})
        hold = holder.transaction()
        await hold.start()
        try:
            await holder.execute("LOCK TABLE projection_tracking IN ACCESS EXCLUSIVE MODE")
            os.kill(pid, signal.SIGSTOP)
            try:
                for _ in range(ROUNDS):
                    for _ in range(PER_ROUND):
                        await assess(assessment, patient)  # commands are accepted with the broker frozen
                    await asyncio.sleep(1.0)
                    started = time.monotonic()
                    families = await scrape(assessment)
                    assert time.monotonic() - started < 8, "a scrape hung on the frozen broker"
                    backlog = value(families, "carecoord_outbox_backlog")
                    age = value(families, "carecoord_outbox_oldest_unsent_age_seconds")
                    assert backlog is not None and age is not None
                    seen.append((backlog, age))
            finally:
                os.kill(pid, signal.SIGCONT)

            backlogs, ages = [b for b, _ in seen], [a for _, a in seen]
            assert backlogs == [PER_ROUND * (i + 1) for i in range(ROUNDS)], seen
            assert ages == sorted(ages) and ages[0] >= 1.0 and ages[-1] - ages[0] >= ROUNDS - 1.5, seen

            async def lagging() -> Families | None:
                c = await scrape(coordination)
                return c if total(c, "carecoord_consumer_lag") == ROUNDS * PER_ROUND else None

            held = await wait_until(lagging, timeout=60, interval=0.3)
            topic = s["assessment"].settings.topic()
            assert {x.labels["topic"] for x in held["carecoord_consumer_lag"] if x.value} == {topic}
            assert value(await scrape(assessment), "carecoord_outbox_backlog") == 0
        finally:
            await hold.rollback()
            await holder.close()

        after = await wait_until(drained(applied_before + ROUNDS * PER_ROUND), timeout=90, interval=0.3)
        assert total(after, "carecoord_consumer_lag") == 0
        families = await scrape(assessment)
        assert value(families, "carecoord_outbox_oldest_unsent_age_seconds") == 0
        assert value(families, "carecoord_relay_published_total") == 1 + ROUNDS * PER_ROUND
