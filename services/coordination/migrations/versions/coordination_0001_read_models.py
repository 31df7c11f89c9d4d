"""Coordination: the timeline (one entry per event of any service) and one summary per
patient, both disposable read models rebuilt from the topics.

Revision ID: coordination_0001
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "coordination_0001"
down_revision = None
branch_labels = ("coordination",)
depends_on = "kernel_0001"

READ_MODELS = """
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
"""


def upgrade() -> None:
    run_script(READ_MODELS)


def downgrade() -> None:
    run_script("DROP TABLE patient_summaries; DROP TABLE timeline_entries;")
