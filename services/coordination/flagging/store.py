"""The flags' tables, one round trip per statement (typed arrays), on the caller's connection."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from .model import Acknowledgement, StoredFlag, flag_json, from_row

SELECT_FLAGS = "SELECT * FROM flags WHERE patient_id = ANY($1::text[])"

UPSERT_FLAGS = """
INSERT INTO flags (flag_id, rule_id, rule_version, patient_id, clinic_id, severity, status, raised_at,
                   acknowledged_at, acknowledged_by, ack_reason, resolved_at, withdrawn, thresholds, evidence,
                   explanation)
SELECT f, r, v, p, c, sv, st, ra, aa, ab, ar, rs, w, th::jsonb, ev::jsonb, ex
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[], $12::timestamptz[], $13::bool[],
            $14::text[], $15::text[], $16::text[]) AS u(f, r, v, p, c, sv, st, ra, aa, ab, ar, rs, w, th, ev, ex)
ON CONFLICT ON CONSTRAINT flags_pkey DO UPDATE SET
    rule_version = EXCLUDED.rule_version, clinic_id = EXCLUDED.clinic_id, severity = EXCLUDED.severity,
    status = EXCLUDED.status, raised_at = EXCLUDED.raised_at, acknowledged_at = EXCLUDED.acknowledged_at,
    acknowledged_by = EXCLUDED.acknowledged_by, ack_reason = EXCLUDED.ack_reason,
    resolved_at = EXCLUDED.resolved_at, withdrawn = EXCLUDED.withdrawn, thresholds = EXCLUDED.thresholds,
    evidence = EXCLUDED.evidence, explanation = EXCLUDED.explanation, updated_at = now()
"""

# In the order given (the identity follows the rows' order), after the transaction's append:
# see insert_changes.
INSERT_CHANGES = """
INSERT INTO flag_changes (flag_id, patient_id, clinic_id, change, flag)
SELECT f, p, c, k, j::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(f, p, c, k, j, n)
ORDER BY n
"""


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


async def load_flags(conn: asyncpg.Connection, patient_ids: Sequence[str]) -> dict[str, dict[str, StoredFlag]]:
    out: dict[str, dict[str, StoredFlag]] = defaultdict(dict)
    for row in await conn.fetch(SELECT_FLAGS, list(patient_ids)):
        out[row["patient_id"]][row["flag_id"]] = from_row(row)
    return out


async def load_acknowledgements(conn: asyncpg.Connection, flag_ids: Sequence[str]) -> dict[str, Acknowledgement]:
    rows = await conn.fetch("SELECT flag_id, reason, acknowledged_by, acknowledged_at FROM flag_acknowledgements "
                            "WHERE flag_id = ANY($1::text[])", list(flag_ids))
    return {r["flag_id"]: Acknowledgement(r["reason"], r["acknowledged_by"], r["acknowledged_at"]) for r in rows}


async def save_flags(conn: asyncpg.Connection, flags: Sequence[StoredFlag]) -> None:
    if not flags:
        return
    acks = [f.acknowledgement for f in flags]
    await conn.execute(
        UPSERT_FLAGS, [f.flag_id for f in flags], [f.rule_id for f in flags], [f.rule_version for f in flags],
        [f.patient_id for f in flags], [f.clinic_id for f in flags], [f.severity for f in flags],
        [f.status for f in flags], [f.raised_at for f in flags], [a.acknowledged_at if a else None for a in acks],
        [a.acknowledged_by if a else None for a in acks], [a.reason if a else None for a in acks],
        [f.resolved_at for f in flags], [f.withdrawn for f in flags], [_dumps(dict(f.thresholds)) for f in flags],
        [_dumps(list(f.evidence)) for f in flags], [f.explanation for f in flags])


async def insert_changes(conn: asyncpg.Connection, changes: Sequence[tuple[str, StoredFlag]]) -> None:
    """One ``flag_changes`` row per (change, flag after it).

    Call it after the transaction's append to the event store: the append lock is then held
    until commit, so change ids are drawn in commit order and a reader tailing
    ``change_id > last`` never skips a row committed late (the gap ARCHITECTURE.md warns of)."""
    if not changes:
        return
    await conn.execute(
        INSERT_CHANGES, [f.flag_id for _, f in changes], [f.patient_id for _, f in changes],
        [f.clinic_id for _, f in changes], [kind for kind, _ in changes],
        [_dumps(flag_json(f)) for _, f in changes])
