"""The tables a replay rebuilds, their checksums, and the swap.

A scratch schema gets the whole migration (kernel and coordination), so the projection runs in
it unchanged; only the tables the projection writes are swapped into the live schema. The rest
stays: coordination's own event store and outbox (its decisions and published flag events),
the flag change log dashboards resume from (``flag_changes``: its ids are their positions), the
acknowledgements with their notes (a clinician's act, copied into the scratch schema so rebuilt
flags keep them), the access log and idempotency keys.
"""

from __future__ import annotations

import asyncpg

PROJECTED = ("timeline_entries", "patient_summaries", "flags", "audit_events", "patient_directory",
             "projection_tracking", "projection_stream_position", "projection_parked")
"""What the projection (and its runner's bookkeeping) writes: rebuilt, then swapped in."""

PROJECTION = "coordination"

# What a checksum covers: the read models, wall-clock free. Flags withdrawn by a backdated event
# record what was believed before it, not a function of the history: left out.
CHECKED = {
    "timeline": ("SELECT event_id, patient_id, clinic_id, occurred_at, recorded_at, service, type, stream_id, "
                 "sequence, summary, data FROM {s}.timeline_entries", "event_id"),
    "summaries": ("SELECT patient_id, clinic_id, enrolled_at, event_count, last_event_at, state "
                  "FROM {s}.patient_summaries", "patient_id"),
    "flags": ("SELECT flag_id, rule_id, rule_version, patient_id, clinic_id, severity, status, raised_at, "
              "resolved_at, thresholds, evidence, explanation FROM {s}.flags WHERE NOT withdrawn", "flag_id"),
    "directory": ("SELECT patient_id, clinic_id, identity_erased, enrolled_at FROM {s}.patient_directory",
                  "patient_id"),
}


def quoted(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


async def checksums(conn: asyncpg.Connection, schema: str) -> dict[str, str]:
    """md5 of every row's text in key order, and the count, per read model (computed in the
    database: nothing of the rows travels)."""
    out = {}
    for name, (select, key) in CHECKED.items():
        row = await conn.fetchrow(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.{key}), '')) AS digest, "
                                  f"count(*) AS n FROM ({select.format(s=quoted(schema))}) t")
        out[name] = f"{row['digest']}:{row['n']}"
    return out


async def copy_acknowledgements(conn: asyncpg.Connection, live: str, scratch: str,
                                patient_id: str | None = None) -> None:
    await conn.execute(
        f"INSERT INTO {quoted(scratch)}.flag_acknowledgements SELECT * FROM {quoted(live)}.flag_acknowledgements "
        "WHERE $1::text IS NULL OR patient_id = $1 "
        "ON CONFLICT ON CONSTRAINT flag_acknowledgements_pkey DO NOTHING", patient_id)


async def lock_live(conn: asyncpg.Connection, live: str) -> None:
    """Writers of the live read models wait (readers do not) until the transaction ends."""
    tables = ", ".join(f"{quoted(live)}.{t}" for t in PROJECTED)
    await conn.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")


async def missing_from_scratch(conn: asyncpg.Connection, live: str, scratch: str) -> int:
    """Events the live projection applied that the rebuild has not (yet)."""
    return int(await conn.fetchval(
        f"SELECT count(*) FROM {quoted(live)}.projection_tracking l WHERE l.projection = $1 AND NOT EXISTS "
        f"(SELECT 1 FROM {quoted(scratch)}.projection_tracking s WHERE s.projection = l.projection "
        "AND s.event_id = l.event_id)", PROJECTION))


async def sync_acknowledgements(conn: asyncpg.Connection, live: str, scratch: str) -> None:
    """Acknowledgements made while the rebuild ran, onto the rebuilt flags (as a rebuild that
    had them from the start would have: an acknowledgement survives every change)."""
    await copy_acknowledgements(conn, live, scratch)
    await conn.execute(
        f"UPDATE {quoted(scratch)}.flags f SET acknowledged_at = a.acknowledged_at, "
        "acknowledged_by = a.acknowledged_by, ack_reason = a.reason, "
        "status = CASE WHEN f.status = 'open' THEN 'acknowledged' ELSE f.status END "
        f"FROM {quoted(live)}.flag_acknowledgements a WHERE a.flag_id = f.flag_id AND f.acknowledged_at IS NULL")


async def keep_other_projections(conn: asyncpg.Connection, live: str, scratch: str) -> None:
    """Bookkeeping of any other projection sharing the live schema travels with the swap."""
    for table in ("projection_tracking", "projection_stream_position", "projection_parked"):
        await conn.execute(f"INSERT INTO {quoted(scratch)}.{table} SELECT * FROM {quoted(live)}.{table} "
                           "WHERE projection <> $1 ON CONFLICT DO NOTHING", PROJECTION)


async def swap(conn: asyncpg.Connection, live: str, scratch: str, retired: str) -> None:
    """In the caller's transaction: the live read models move to ``retired``, the rebuilt ones
    take their place (indexes, constraints and identity sequences move with their tables)."""
    await conn.execute(f"CREATE SCHEMA {quoted(retired)}")
    for table in PROJECTED:
        await conn.execute(f"ALTER TABLE {quoted(live)}.{table} SET SCHEMA {quoted(retired)}")
        await conn.execute(f"ALTER TABLE {quoted(scratch)}.{table} SET SCHEMA {quoted(live)}")


async def drop_schema(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE")
