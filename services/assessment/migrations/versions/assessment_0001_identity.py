"""Assessment: identity and free-text notes, kept in this service's database only (never in
an event), so erasure removes them for good while the pseudonymous history stays.

Conditional, like the kernel baseline, for databases made before Alembic.

Revision ID: assessment_0001
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "assessment_0001"
down_revision = None
branch_labels = ("assessment",)
depends_on = "kernel_0001"


def upgrade() -> None:
    run_script("""
    CREATE TABLE IF NOT EXISTS patient_identity (
        patient_id text NOT NULL,
        clinic_id text NOT NULL,
        display_name text NOT NULL,
        birth_date date NOT NULL,
        external_ref text,
        CONSTRAINT patient_identity_pkey PRIMARY KEY (patient_id)
    );
    CREATE TABLE IF NOT EXISTS life_event_note (
        life_event_id text NOT NULL,
        patient_id text NOT NULL,
        note text NOT NULL,
        CONSTRAINT life_event_note_pkey PRIMARY KEY (life_event_id)
    );
    CREATE INDEX IF NOT EXISTS life_event_note_patient ON life_event_note (patient_id);
    """)


def downgrade() -> None:
    run_script("DROP TABLE life_event_note; DROP TABLE patient_identity;")
