"""Pharmacy: the notes a user writes beside a coded reason, effect, override or indication.

Kept in this service's database only, keyed by the event they explain, never in the event:
Kafka keeps events for ever, while a note may name a person and is deleted when the
patient's identity is erased (``services/pharmacy/notes.py``).

Revision ID: pharmacy_0001
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "pharmacy_0001"
down_revision = None
branch_labels = ("pharmacy",)
depends_on = "kernel_0001"


def upgrade() -> None:
    run_script("""
    CREATE TABLE IF NOT EXISTS medication_note (
        event_id uuid NOT NULL,
        field text NOT NULL,
        patient_id text NOT NULL,
        medication_id text NOT NULL,
        note text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT medication_note_pkey PRIMARY KEY (event_id, field),
        CONSTRAINT medication_note_field_check CHECK (
            field IN ('indication_note', 'override_reason_note', 'reason_note', 'effect_note'))
    );
    CREATE INDEX IF NOT EXISTS medication_note_patient ON medication_note (patient_id, medication_id);
    """)


def downgrade() -> None:
    run_script("DROP TABLE medication_note;")
