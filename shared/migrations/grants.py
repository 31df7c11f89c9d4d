"""Least privilege in PostgreSQL: a migration role owns the schema, the runtime role only uses it.

The services run as a role that may read and write what their work needs and nothing else: it
owns no table (so it cannot ALTER, DROP or TRUNCATE one, nor switch off a trigger), it may not
create objects, and the records that must never change — the event store, the access log, the
audit checkpoints, coordination's flag change log and its copy of the published events — take
only INSERT and SELECT. The outbox takes UPDATE of its delivery columns alone (the relay marks
a row sent or parked; the event it carries cannot be rewritten on its way to Kafka).
``carecoord db upgrade --grant-to ROLE`` applies this after migrating, as the migration role.
"""

from __future__ import annotations

import asyncpg

from shared.db import plain_dsn

APPEND_ONLY = ("events", "access_log", "chain_checkpoints", "flag_changes", "audit_events")
OUTBOX_DELIVERY_COLUMNS = ("sent_at", "parked_at", "parked_reason")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def grant_runtime(dsn: str, schema: str, role: str) -> None:
    """Give ``role`` the runtime privileges on ``schema``'s current tables (run after every
    upgrade: a new table gets its grant with the migration that made it)."""
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        s, r = _ident(schema), _ident(role)
        async with conn.transaction():
            await conn.execute(f"REVOKE CREATE ON SCHEMA {s} FROM {r}")
            await conn.execute(f"GRANT USAGE ON SCHEMA {s} TO {r}")
            await conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}")
            await conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}")
            await conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
            await conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {r}")
            present = {row["relname"] for row in await conn.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')", schema)}
            for table in APPEND_ONLY:
                if table in present:
                    await conn.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{_ident(table)} FROM {r}")
            if "outbox" in present:
                await conn.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.outbox FROM {r}")
                columns = ", ".join(OUTBOX_DELIVERY_COLUMNS)
                await conn.execute(f"GRANT UPDATE ({columns}) ON {s}.outbox TO {r}")
    finally:
        await conn.close()
