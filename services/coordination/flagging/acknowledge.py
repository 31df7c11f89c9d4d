"""A clinician acknowledges a flag: one transaction under the patient's lock writes the flag, the
acknowledgement (with its note, which stays here), the ``acknowledged`` change and the
RiskFlagAcknowledged event with its outbox row.

``decide_acknowledgement`` is the pure part: which refusal, or which flag after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from services.coordination.domain import RiskFlagAcknowledged
from services.coordination.projection.store import lock_patients
from shared.envelope import Metadata, new_envelope
from shared.errors import Conflict, NotFound
from shared.eventstore import PostgresEventStore
from shared.handler import Hook, Outcome

from .events import SERVICE, flag_stream
from .model import Acknowledgement, StoredFlag, from_row
from .store import insert_changes, save_flags

NOT_FOUND = "flag not found"
RESOLVED = "the flag is resolved; a resolved flag cannot be acknowledged"
ALREADY = "the flag is acknowledged already"


@dataclass(frozen=True, slots=True)
class Acknowledge:
    flag_id: str
    reason: str
    note: str | None
    staff_id: str
    clinics: frozenset[str]  # the caller's: another clinic's flag is answered like a missing one


def decide_acknowledgement(flag: StoredFlag | None, command: Acknowledge, at: datetime) -> StoredFlag:
    if flag is None or flag.clinic_id not in command.clinics:
        raise NotFound(NOT_FOUND, field="flag_id")
    if flag.status == "resolved":
        raise Conflict(RESOLVED, field="flag_id")
    if flag.status == "acknowledged":
        raise Conflict(ALREADY, field="flag_id")
    return replace(flag, status="acknowledged", acknowledgement=Acknowledgement(command.reason, command.staff_id, at))


async def load_flag(conn: asyncpg.Connection | asyncpg.Pool, flag_id: str) -> StoredFlag | None:
    row = await conn.fetchrow("SELECT * FROM flags WHERE flag_id = $1", flag_id)
    return from_row(row) if row is not None else None


async def acknowledge(pool: asyncpg.Pool, store: PostgresEventStore, topic: str, command: Acknowledge,
                      metadata: Metadata, within: Hook | None) -> Outcome[StoredFlag]:
    before = await load_flag(pool, command.flag_id)
    decide_acknowledgement(before, command, datetime.now(UTC))  # refuse early, without the lock
    assert before is not None
    async with pool.acquire() as conn, conn.transaction():
        await lock_patients(conn, [before.patient_id])
        at = datetime.now(UTC)
        flag = decide_acknowledgement(await load_flag(conn, command.flag_id), command, at)  # again, under the lock
        event = RiskFlagAcknowledged(
            occurred_at=at, patient_id=flag.patient_id, flag_id=flag.flag_id, rule_id=flag.rule_id,
            rule_version=flag.rule_version, severity=flag.severity, raised_at=flag.raised_at,
            reason=command.reason, acknowledged_by=command.staff_id)  # type: ignore[arg-type]
        env = new_envelope(SERVICE, flag_stream(flag.patient_id), event, subject=flag.patient_id,
                           clinic_id=flag.clinic_id, metadata=metadata)
        result = await store.append_on(conn, flag_stream(flag.patient_id), None, [env], topic=topic)
        await save_flags(conn, [flag])
        await conn.execute(
            "INSERT INTO flag_acknowledgements (flag_id, patient_id, reason, note, acknowledged_by, acknowledged_at,"
            " event_id) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT ON CONSTRAINT flag_acknowledgements_pkey "
            "DO UPDATE SET reason = EXCLUDED.reason, note = EXCLUDED.note, acknowledged_by = "
            "EXCLUDED.acknowledged_by, acknowledged_at = EXCLUDED.acknowledged_at, event_id = EXCLUDED.event_id",
            flag.flag_id, flag.patient_id, command.reason, command.note, command.staff_id, at, env.id)
        await insert_changes(conn, [("acknowledged", flag)])  # after the append: see insert_changes
        outcome = Outcome(result, flag)
        if within is not None:
            await within(conn, outcome)
        return outcome
