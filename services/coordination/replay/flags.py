"""Every patient's flags of a rebuilt timeline, from one evaluation each.

The live projection evaluates a patient after every batch that brings one of their events; a
rebuild that did so would evaluate a long history dozens of times. One evaluation of the whole
history as of now gives the same flags (``test_coordination_flag_history`` shows the event-by-event
reconciliation ends where one evaluation starts), so the rebuild projects without the rules and
then evaluates each patient once; the tail that arrives after that goes through the live path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from services.coordination.flagging.history import load_histories
from services.coordination.flagging.model import Acknowledgement
from services.coordination.flagging.reconcile import reconcile
from services.coordination.flagging.store import save_flags
from services.coordination.rules import RulesConfig, evaluate

log = logging.getLogger(__name__)

BATCH = 500


async def _acknowledgements(conn: asyncpg.Connection, patient_ids: list[str]) -> dict[str, Acknowledgement]:
    rows = await conn.fetch("SELECT flag_id, reason, acknowledged_by, acknowledged_at FROM flag_acknowledgements "
                            "WHERE patient_id = ANY($1::text[])", patient_ids)
    return {r["flag_id"]: Acknowledgement(r["reason"], r["acknowledged_by"], r["acknowledged_at"]) for r in rows}


async def evaluate_everyone(pool: asyncpg.Pool, config: RulesConfig, *, now: Callable[[], datetime] | None = None,
                            progress: Callable[[int], None] | None = None) -> int:
    """Flags of every patient the timeline knows, written to ``flags``; the number of flags."""
    clock = now or (lambda: datetime.now(UTC))
    patients = [(r["patient_id"], r["clinic_id"]) for r in
                await pool.fetch("SELECT patient_id, clinic_id FROM patient_summaries ORDER BY patient_id")]
    written = 0
    for start in range(0, len(patients), BATCH):
        chunk = dict(patients[start:start + BATCH])
        async with pool.acquire() as conn, conn.transaction():
            histories = await load_histories(conn, list(chunk))
            acks = await _acknowledgements(conn, list(chunk))
            writes = []
            for pid, clinic in chunk.items():
                history = histories.get(pid, [])
                as_of = max([clock(), *(e.recorded_at for e in history)])
                try:
                    found = evaluate(history, as_of, config.for_clinic(clinic), patient_id=pid)
                except Exception as exc:  # as live: a rules defect leaves this patient without flags
                    log.error("rules evaluation failed; one patient's flags not rebuilt",
                              extra={"error_type": type(exc).__name__})
                    continue
                writes.extend(reconcile({}, found, clinic, acks=acks).writes)
            await save_flags(conn, writes)
            written += len(writes)
        if progress is not None:
            progress(len(chunk))
    return written
