"""Coordination: FHIR Bulk Data export jobs and their NDJSON output.

An export runs in the background (a task of the service) after the kick-off request has
answered 202; the job and its output are rows, so a restart or another instance resumes a job
whose lease lapsed, and a client polling after a restart still finds its manifest. The output is
kept in parts (one per resource type per batch of patients), with the patients each part holds,
so every download can be written to the access log. Not a read model: a rebuild leaves it.

Revision ID: coordination_0004
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "coordination_0004"
down_revision = "coordination_0003"
branch_labels = None
depends_on = None

FHIR_EXPORTS = """
CREATE TABLE fhir_export_jobs (
    job_id uuid NOT NULL,
    staff_id text NOT NULL,
    roles text[] NOT NULL,
    caller_clinics text[] NOT NULL,
    clinics text[] NOT NULL,
    types text[] NOT NULL,
    since timestamptz,
    request_url text NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    transaction_time timestamptz,
    lease_until timestamptz,
    patients_total integer,
    patients_done integer NOT NULL DEFAULT 0,
    completed_at timestamptz,
    error text,
    CONSTRAINT fhir_export_jobs_pkey PRIMARY KEY (job_id),
    CONSTRAINT fhir_export_jobs_status_check CHECK (status IN ('accepted', 'running', 'completed', 'failed'))
);
-- The worker's queue: jobs not yet done, oldest first.
CREATE INDEX fhir_export_jobs_pending ON fhir_export_jobs (created_at) WHERE status IN ('accepted', 'running');

CREATE TABLE fhir_export_files (
    job_id uuid NOT NULL,
    resource_type text NOT NULL,
    part integer NOT NULL,
    resource_count integer NOT NULL,
    content text NOT NULL,
    patients text[] NOT NULL,
    clinics text[] NOT NULL,
    CONSTRAINT fhir_export_files_pkey PRIMARY KEY (job_id, resource_type, part),
    CONSTRAINT fhir_export_files_job_fkey FOREIGN KEY (job_id) REFERENCES fhir_export_jobs (job_id)
        ON DELETE CASCADE
);
"""


def upgrade() -> None:
    run_script(FHIR_EXPORTS)


def downgrade() -> None:
    run_script("DROP TABLE fhir_export_files; DROP TABLE fhir_export_jobs;")
