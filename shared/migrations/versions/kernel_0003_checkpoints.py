"""Kernel: signed checkpoints of the event store's chain heads (see shared.audit.checkpoints).

Revision ID: kernel_0003
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "kernel_0003"
down_revision = "kernel_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    CREATE TABLE IF NOT EXISTS chain_checkpoints (
        checkpoint_id bigint GENERATED ALWAYS AS IDENTITY,
        created_at timestamptz NOT NULL,
        last_position bigint NOT NULL,
        heads jsonb NOT NULL,
        previous_signature text,
        key_id text NOT NULL,
        signature text NOT NULL,
        CONSTRAINT chain_checkpoints_pkey PRIMARY KEY (checkpoint_id)
    );
    """)


def downgrade() -> None:
    run_script("DROP TABLE chain_checkpoints;")
