"""Kernel: the access log records refused attempts too, and refuses UPDATE and DELETE.

Refused attempts on a patient path (401, 403, 404: ``shared.access_audit``) are rows of their
own: ``outcome`` 'refused' with the HTTP ``status``, the route template as ``endpoint``, the
caller's clinics, and no staff id when the token did not verify (no clinic when the patient is
unknown). Reads stay ``outcome`` 'allowed'.

Append-only: a statement trigger refuses every UPDATE and DELETE on ``access_log`` (SQLSTATE
42501), whoever runs it. Nothing in the platform updates or deletes access-log rows: erasing a
patient's identity removes the identity and free-text notes, never the record of who read the
pseudonymous history, so erasure is unaffected. TRUNCATE is not refused here (test and bench
fixtures empty whole schemas); keeping the runtime role from owning the table at all (a
separate migration role, without TRUNCATE) is item 7 of issue 14, not done here.

Revision ID: kernel_0004
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "kernel_0004"
down_revision = "kernel_0003"
branch_labels = None
depends_on = None

REFUSALS = """
ALTER TABLE access_log
    ALTER COLUMN staff_id DROP NOT NULL,
    ALTER COLUMN clinic_id DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS outcome text NOT NULL DEFAULT 'allowed',
    ADD COLUMN IF NOT EXISTS status smallint,
    ADD COLUMN IF NOT EXISTS endpoint text,
    ADD COLUMN IF NOT EXISTS caller_clinics text[];
ALTER TABLE access_log DROP CONSTRAINT IF EXISTS access_log_outcome_check;
ALTER TABLE access_log ADD CONSTRAINT access_log_outcome_check CHECK (outcome IN ('allowed', 'refused'));
CREATE INDEX IF NOT EXISTS access_log_at ON access_log (at);
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only: % refused', TG_OP USING ERRCODE = '42501';
END
$$;
DROP TRIGGER IF EXISTS access_log_append_only ON access_log;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();
"""


def upgrade() -> None:
    run_script(REFUSALS)
    run_script(APPEND_ONLY)


def downgrade() -> None:
    # The columns stay: dropping them would erase the record of refused attempts.
    run_script("DROP TRIGGER IF EXISTS access_log_append_only ON access_log; "
               "DROP FUNCTION IF EXISTS access_log_append_only();")
