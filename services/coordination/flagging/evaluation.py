"""Re-evaluating patients' rules inside a transaction that holds their locks: the shell around
the engine and :func:`reconcile`.

The projection calls it after applying a batch (for the batch's patients), the tick calls it for
patients whose deadlines may have passed; both hold the patients' advisory locks
(``projection.store.lock_patients``), so one patient's flags are never reconciled twice at once.
Flags' times are event time; ``as_of`` is the wall clock, raised to the latest ``recorded_at`` of
the patient's history so that a producer whose clock runs ahead cannot make a flag disappear and
come back (what was received has been recorded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.coordination.rules import Flag, RulesConfig, evaluate
from shared.envelope import Envelope
from shared.eventstore import PostgresEventStore

from .events import change_envelopes, flag_stream
from .history import load_histories
from .model import StoredFlag
from .reconcile import Change, Reconciled, reconcile
from .store import insert_changes, load_acknowledgements, load_flags, save_flags

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why a patient is evaluated: new events (the earliest occurred_at among them, and the
    latest of them as the cause of any flag event) or the tick (neither)."""

    clinic_id: str
    earliest: datetime | None = None
    cause: Envelope | None = None


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Flagging:
    def __init__(self, store: PostgresEventStore, topic: str, config: RulesConfig,
                 clock: Callable[[], datetime] = wall_clock) -> None:
        self.store = store
        self.topic = topic  # carecoord.coordination.flags.v1 (behind the namespace)
        self.config = config
        self.clock = clock

    async def begin(self, conn: asyncpg.Connection) -> None:
        """Call first in a transaction that will reevaluate: the flag events are appended in
        it, after other writes (PostgresEventStore.begin_appends)."""
        await self.store.begin_appends(conn)

    async def reevaluate(self, conn: asyncpg.Connection, triggers: Mapping[str, Trigger]) -> int:
        """Evaluate, reconcile and write the flags of ``triggers``' patients; the number of changes.

        The caller holds the patients' locks and the transaction, and called :meth:`begin` at
        its start."""
        if not triggers:
            return 0
        patients = sorted(triggers)
        histories = await load_histories(conn, patients)
        stored = await load_flags(conn, patients)
        now = self.clock()
        found: dict[str, list[Flag]] = {}
        results: dict[str, Reconciled] = {}
        for pid in patients:
            history = histories.get(pid, [])
            as_of = max([now, *(e.recorded_at for e in history)])
            trigger = triggers[pid]
            try:
                found[pid] = evaluate(history, as_of, self.config.for_clinic(trigger.clinic_id), patient_id=pid)
            except Exception as exc:  # pure code: a defect, not the environment
                # A rules defect must neither stall the projection (a batch failing the same way
                # every time) nor dead-letter clinical events: the patient's flags stay as they
                # were, the error is logged (its type only), and the next event or tick tries again.
                log.error("rules evaluation failed; flags of one patient left as they were",
                          extra={"error_type": type(exc).__name__})
                continue
            results[pid] = reconcile(stored.get(pid, {}), found[pid], trigger.clinic_id,
                                     withdrawn_at=trigger.earliest)
        new = {c.flag.flag_id: pid for pid, r in results.items() for c in r.changes
               if c.kind == "raised" and c.flag.flag_id not in stored.get(pid, {})}
        # Rare but for a rebuild: a flag found for the first time may have been acknowledged before.
        acks = await load_acknowledgements(conn, list(new)) if new else {}
        for pid in {new[flag_id] for flag_id in acks}:
            results[pid] = reconcile(stored.get(pid, {}), found[pid], triggers[pid].clinic_id, acks=acks,
                                     withdrawn_at=triggers[pid].earliest)
        return await self._write(conn, triggers, results)

    async def _write(self, conn: asyncpg.Connection, triggers: Mapping[str, Trigger],
                     results: Mapping[str, Reconciled]) -> int:
        writes: list[StoredFlag] = [f for r in results.values() for f in r.writes]
        await save_flags(conn, writes)
        changes: list[Change] = [c for r in results.values() for c in r.changes]
        # One round trip for every patient's stream; no expected version: the patients' locks keep
        # every other writer of these streams out.
        await self.store.append_many_on(conn, [
            (flag_stream(pid), None, change_envelopes(pid, r.changes, triggers[pid].cause))
            for pid, r in results.items() if r.changes], topic=self.topic)
        await insert_changes(conn, [(c.kind, c.flag) for c in changes])  # after the append: see insert_changes
        return len(changes)
