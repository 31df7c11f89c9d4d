"""Coordination: every event as it was published, for the auditors' history.

The timeline keeps only the coded fields coordination reads, which is enough for the read
models and the rules but not to check an event against its chain hash: the hash covers the
whole payload and metadata as the producer stored them. ``audit_events`` keeps the envelope as
received (metadata and payload) and the ``ce_hash`` it arrived with, written by the projection
in the transaction that writes the timeline, so the history can recompute each stream's chain.
Payloads carry pseudonymous ids and codes, no identity. Like the timeline, it is rebuilt from
the topics.

Revision ID: coordination_0003
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "coordination_0003"
down_revision = "coordination_0002"
branch_labels = None
depends_on = None

AUDIT_EVENTS = """
CREATE TABLE audit_events (
    event_id uuid NOT NULL,
    patient_id text NOT NULL,
    clinic_id text NOT NULL,
    service text NOT NULL,
    stream_id text NOT NULL,
    sequence bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    envelope jsonb NOT NULL,
    hash bytea,
    CONSTRAINT audit_events_pkey PRIMARY KEY (event_id)
);
-- The history's order: what was recorded first, then each stream in sequence.
CREATE INDEX audit_events_patient ON audit_events (patient_id, recorded_at, service, stream_id, sequence);
"""


def upgrade() -> None:
    run_script(AUDIT_EVENTS)


def downgrade() -> None:
    run_script("DROP TABLE audit_events;")
