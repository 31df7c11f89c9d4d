"""Kernel: per-stream order for projections — the last sequence applied per stream, and the
events parked behind a gap until the missing one arrives (see shared.projection.ordering).

Revision ID: kernel_0002
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "kernel_0002"
down_revision = "kernel_0001"
branch_labels = None
depends_on = None

STREAM_ORDER = """
CREATE TABLE IF NOT EXISTS projection_stream_position (
    projection text NOT NULL,
    source text NOT NULL,
    stream_id text NOT NULL,
    last_sequence bigint NOT NULL,
    CONSTRAINT projection_stream_position_pkey PRIMARY KEY (projection, source, stream_id)
);
CREATE TABLE IF NOT EXISTS projection_parked (
    projection text NOT NULL,
    source text NOT NULL,
    stream_id text NOT NULL,
    sequence bigint NOT NULL,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    record_key bytea,
    record_value bytea,
    header_names text[] NOT NULL,
    header_values bytea[] NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projection_parked_pkey PRIMARY KEY (projection, source, stream_id, sequence)
);
-- Projections that applied events before positions were kept: a stream they met
-- then has no recorded position, so its first event seen now sets the baseline
-- instead of being held back behind history that was in fact applied.
CREATE TABLE IF NOT EXISTS projection_order_legacy (
    projection text NOT NULL,
    CONSTRAINT projection_order_legacy_pkey PRIMARY KEY (projection)
);
INSERT INTO projection_order_legacy
SELECT DISTINCT t.projection FROM projection_tracking t
WHERE NOT EXISTS (SELECT 1 FROM projection_stream_position p WHERE p.projection = t.projection)
ON CONFLICT ON CONSTRAINT projection_order_legacy_pkey DO NOTHING;
"""


def upgrade() -> None:
    run_script(STREAM_ORDER)


def downgrade() -> None:
    run_script("DROP TABLE projection_order_legacy; DROP TABLE projection_parked; "
               "DROP TABLE projection_stream_position;")
