"""DDL of the coordination read models (moves to the Alembic environment when it lands).

Kept in step with tables.py, which the queries use; an integration test compares the two.
"""

from __future__ import annotations

import asyncpg

from shared.db import Migration, migrate

MIGRATIONS = [
    Migration(
        "001_timeline_and_summaries",
        """
        CREATE TABLE timeline_entries (
            event_id uuid NOT NULL,
            patient_id text NOT NULL,
            clinic_id text NOT NULL,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL,
            service text NOT NULL,
            type text NOT NULL,
            stream_id text NOT NULL,
            sequence bigint NOT NULL,
            summary text NOT NULL,
            data jsonb NOT NULL,
            CONSTRAINT timeline_entries_pkey PRIMARY KEY (event_id),
            CONSTRAINT timeline_entries_stream_position_key UNIQUE (service, stream_id, sequence),
            CONSTRAINT timeline_entries_sequence_check CHECK (sequence >= 0)
        );
        CREATE INDEX timeline_entries_patient_order
            ON timeline_entries (patient_id, occurred_at, recorded_at, event_id);

        CREATE TABLE patient_summaries (
            patient_id text NOT NULL,
            clinic_id text NOT NULL,
            enrolled_at timestamptz,
            event_count integer NOT NULL,
            last_event_at timestamptz,
            state jsonb NOT NULL,
            CONSTRAINT patient_summaries_pkey PRIMARY KEY (patient_id)
        );
        """,
    )
]


async def migrate_read_models(pool: asyncpg.Pool) -> None:
    await migrate(pool, "coordination", MIGRATIONS)
