"""The rules' periodic tick: time-based flags raised (and resolved) with no new event.

Every ``rules_tick_seconds`` the tick re-evaluates patients whose deadlines may have passed —
a stalled escalation at its ``due_by``, disengagement 21 days after the last session, a rapid
titration's window closing — under the same per-patient lock and the same reconciliation as the
projection, so the flag it raises has the raised_at a replay gives (the deadline, in event time),
not the moment the tick ran.

Which patients: the simplest correct answer, every patient the projection knows. Its cost is one
timeline read and one evaluation per patient per tick: measured 2.3 ms a patient of ~25 events
(1 000 patients in 2.3 s), and the engine alone takes ~6 ms for 300 events. So a minute holds
some 25 000 short histories or 5 000 long ones on one core; beyond that the tick falls behind
(it never overlaps itself: the next tick waits for this one) and keeps the database busy. One
instance ticks at a time (a session advisory lock elects it), so a second instance adds no load.
A better plan: the engine also returns each patient's next deadline (the earliest future moment
at which a rule could change its answer); the projection stores it per patient (``next_due_at``,
indexed) and the tick evaluates only ``WHERE next_due_at <= now()``: what is due, not everyone.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.coordination.projection.store import lock_patients
from shared.db import holds_session_state
from shared.dberrors import is_environmental
from shared.retry import sleep_or_stop

from .evaluation import Flagging, Trigger

log = logging.getLogger(__name__)

TICK_LOCK = 1920233323  # with hashtext(current_schema()): one ticking instance per read-model schema


class RulesTick:
    def __init__(self, pool: asyncpg.Pool, flagging: Flagging, interval: float, batch: int = 200) -> None:
        self.pool = pool
        self.flagging = flagging
        self.interval = interval
        self.batch = batch
        self.ticks = 0
        self.changes = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not await sleep_or_stop(stop, self.interval):
            try:
                await self.tick()
            except Exception as exc:  # the next tick tries again; the projection is unaffected
                log.warning("rules tick failed", exc_info=not is_environmental(exc),
                            extra={"error_type": type(exc).__name__})

    async def tick(self) -> int | None:
        """One pass over every patient; the number of flag changes, None when another instance ticks."""
        async with self.pool.acquire() as leader:
            holds_session_state(leader)  # the lock is the session's: reset with it on release
            if not await leader.fetchval("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", TICK_LOCK):
                return None
            try:
                rows = await self.pool.fetch("SELECT patient_id, clinic_id FROM patient_summaries ORDER BY patient_id")
                changes = 0
                for start in range(0, len(rows), self.batch):
                    changes += await self._evaluate({r["patient_id"]: r["clinic_id"]
                                                     for r in rows[start:start + self.batch]})
            finally:
                await leader.execute("SELECT pg_advisory_unlock($1, hashtext(current_schema()))", TICK_LOCK)
        self.ticks += 1
        self.changes += changes
        if changes:
            log.info("rules tick changed flags", extra={"patients": len(rows), "changes": changes})
        return changes

    async def _evaluate(self, clinics: dict[str, str]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.flagging.begin(conn)
            await lock_patients(conn, list(clinics))
            # The clinic read before the lock may have changed since (a transfer): read it under it.
            current = {r["patient_id"]: r["clinic_id"] for r in await conn.fetch(
                "SELECT patient_id, clinic_id FROM patient_summaries WHERE patient_id = ANY($1::text[])",
                list(clinics))}
            return await self.flagging.reevaluate(conn, {p: Trigger(c) for p, c in current.items()})
