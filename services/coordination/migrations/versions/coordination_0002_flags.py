"""Coordination: risk flags, their change log for dashboards, and clinicians' acknowledgements.

``flags`` and ``flag_changes`` are read models like the timeline: the projection writes them
from the rules' evaluation of the timeline, and a rebuild from the topics gives the same
flags again. ``flag_acknowledgements`` is not: it is the service's own record of a clinician's
act (with the free-text note, which never leaves the service); the RiskFlagAcknowledged event in
the stream ``flags-<patient>`` is its published half. A rebuild of the read models keeps it, so a
flag raised again finds its acknowledgement.

The rules need the producers' coded fields only, and the timeline's ``data`` holds exactly
the fields coordination reads from every payload (formulary snapshot, item scores, session
outcomes, due dates …), so the rules read their history from ``timeline_entries`` and no copy
of the payloads is kept (a unit test shows the two histories give the same flags).

Revision ID: coordination_0002
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "coordination_0002"
down_revision = "coordination_0001"
branch_labels = None
depends_on = None

FLAGS = """
CREATE TABLE flags (
    flag_id text NOT NULL,
    rule_id text NOT NULL,
    rule_version text NOT NULL,
    patient_id text NOT NULL,
    clinic_id text NOT NULL,
    severity text NOT NULL,
    -- The worklist's order (most severe first) as a column its index and keyset cursor can use.
    severity_rank smallint GENERATED ALWAYS AS (
        CASE severity WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END) STORED,
    status text NOT NULL,
    raised_at timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    ack_reason text,
    resolved_at timestamptz,
    -- Resolved because a backdated event showed that its cause never held: the flag records what
    -- was known when it was raised, and a rebuild from the topics does not raise it again.
    withdrawn boolean NOT NULL DEFAULT false,
    thresholds jsonb NOT NULL,
    evidence jsonb NOT NULL,
    explanation text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT flags_pkey PRIMARY KEY (flag_id),
    CONSTRAINT flags_severity_check CHECK (severity IN ('info', 'warning', 'high', 'urgent')),
    CONSTRAINT flags_status_check CHECK (status IN ('open', 'acknowledged', 'resolved')),
    CONSTRAINT flags_resolved_at_check CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    CONSTRAINT flags_acknowledged_at_check CHECK (status <> 'acknowledged' OR acknowledged_at IS NOT NULL)
);
CREATE INDEX flags_patient ON flags (patient_id, raised_at);
CREATE INDEX flags_worklist ON flags (clinic_id, severity_rank DESC, raised_at, flag_id);

CREATE TABLE flag_changes (
    change_id bigint GENERATED ALWAYS AS IDENTITY,
    flag_id text NOT NULL,
    patient_id text NOT NULL,
    clinic_id text NOT NULL,
    change text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    flag jsonb NOT NULL,
    CONSTRAINT flag_changes_pkey PRIMARY KEY (change_id),
    CONSTRAINT flag_changes_change_check CHECK (change IN ('raised', 'acknowledged', 'resolved'))
);
CREATE INDEX flag_changes_clinic ON flag_changes (clinic_id, change_id);

CREATE TABLE flag_acknowledgements (
    flag_id text NOT NULL,
    patient_id text NOT NULL,
    reason text NOT NULL,
    note text,
    acknowledged_by text NOT NULL,
    acknowledged_at timestamptz NOT NULL,
    event_id uuid NOT NULL,
    CONSTRAINT flag_acknowledgements_pkey PRIMARY KEY (flag_id),
    CONSTRAINT flag_acknowledgements_note_check CHECK (char_length(note) <= 2000)
);
CREATE INDEX flag_acknowledgements_patient ON flag_acknowledgements (patient_id);
"""


def upgrade() -> None:
    run_script(FLAGS)


def downgrade() -> None:
    run_script("DROP TABLE flag_acknowledgements; DROP TABLE flag_changes; DROP TABLE flags;")
