"""Kernel baseline: event store and outbox, projection tracking, idempotency keys, patient
directory, access log.

Databases made before Alembic (by the versioned-SQL runner and its ``schema_migrations``
table) already hold these tables under the same names; every statement here is therefore
conditional, the pieces those databases lack (the append function of this revision, outbox
parking) are added, and the old bookkeeping table is dropped.

Revision ID: kernel_0001
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "kernel_0001"
down_revision = None
branch_labels = ("kernel",)
depends_on = None

TABLES = """
CREATE TABLE IF NOT EXISTS events (
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    event_id uuid NOT NULL,
    stream_id text NOT NULL,
    stream_version integer NOT NULL,
    event_type text NOT NULL,
    source text NOT NULL,
    subject text NOT NULL,
    clinic_id text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    correlation_id text,
    causation_id text,
    actor text,
    traceparent text,
    payload jsonb NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (global_position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_id_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_subject ON events (subject, global_position);
-- as-of reads: what had been recorded by a moment
CREATE INDEX IF NOT EXISTS events_recorded_at ON events (recorded_at, global_position);

CREATE TABLE IF NOT EXISTS outbox (
    id bigint GENERATED ALWAYS AS IDENTITY,
    global_position bigint NOT NULL,
    topic text NOT NULL,
    sent_at timestamptz,
    CONSTRAINT outbox_pkey PRIMARY KEY (id),
    CONSTRAINT outbox_global_position_fkey FOREIGN KEY (global_position) REFERENCES events (global_position)
);
-- A record the broker refuses for good (too large, not authorised) is parked with the
-- reason instead of blocking the relay for ever; the unsent index leaves it out.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS parked_at timestamptz;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS parked_reason text;
DROP INDEX IF EXISTS outbox_unsent;
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL AND parked_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS projection_tracking (
    projection text NOT NULL,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projection_tracking_pkey PRIMARY KEY (projection, event_id)
);

CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal text NOT NULL,
    key text NOT NULL,
    subject text,
    fingerprint text NOT NULL,
    status_code integer NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_subject ON idempotency_keys (subject);

CREATE TABLE IF NOT EXISTS patient_directory (
    patient_id text NOT NULL,
    clinic_id text NOT NULL,
    identity_erased boolean NOT NULL DEFAULT false,
    enrolled_at timestamptz NOT NULL,
    CONSTRAINT patient_directory_pkey PRIMARY KEY (patient_id)
);

CREATE TABLE IF NOT EXISTS access_log (
    id bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL DEFAULT now(),
    staff_id text NOT NULL,
    roles text[] NOT NULL,
    clinic_id text NOT NULL,
    patient_id text NOT NULL,
    action text NOT NULL,
    CONSTRAINT access_log_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS access_log_patient ON access_log (patient_id, at);
"""

# The whole append in one round trip, under a transaction-scoped advisory lock keyed by
# (p_lock, schema) that serialises the store's appends, so positions become visible in the
# order they are drawn (a reader tailing "position > last" never skips one committed late).
# Typed arrays, one per column. The stream version and recorded_at are assigned here, under
# the lock, so both follow commit order: recorded_at never goes backwards across the store
# (the clock may; the previous event's time is the floor) and an as-of read that sees event
# N+1 sees N. The hash covers them, so the canonical metadata is completed here: head ‖
# version ‖ ,"recorded_at" ‖ tail, exactly as shared.envelope.canonical_meta spells it, then
# sha256(previous hash ‖ content) as shared.envelope.link_hash does. Any event id already
# stored (CC003) is answered before anything is written; the caller decides whether that is
# an idempotent retry or a conflict. CC001: the stream is not at the expected version.
APPEND_EVENTS = r"""
CREATE OR REPLACE FUNCTION append_events(
    p_lock integer, p_stream text, p_expected integer,
    p_ids uuid[], p_types text[], p_sources text[], p_subjects text[], p_clinics text[],
    p_occurred timestamptz[], p_correlations text[], p_causations text[], p_actors text[],
    p_traceparents text[], p_payloads text[], p_heads text[], p_tails text[], p_topic text)
RETURNS TABLE (global_position bigint, stream_version integer, recorded_at timestamptz, hash bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    cur integer;
    h bytea;
    ts timestamptz;
    stamp text;
    hashes bytea[] := '{}';
    i integer;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock, hashtext(current_schema()));
    IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_ids)) THEN
        RAISE EXCEPTION USING ERRCODE = 'CC003', MESSAGE = 'an event id is stored already';
    END IF;
    SELECT e.stream_version, e.hash INTO cur, h FROM events e
        WHERE e.stream_id = p_stream ORDER BY e.stream_version DESC LIMIT 1;
    cur := coalesce(cur, 0);
    IF p_expected IS NOT NULL AND p_expected <> cur THEN
        RAISE EXCEPTION USING ERRCODE = 'CC001', MESSAGE = cur::text;
    END IF;
    SELECT greatest(clock_timestamp(), (SELECT e.recorded_at FROM events e
                                        ORDER BY e.global_position DESC LIMIT 1)) INTO ts;
    stamp := to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00';
    h := coalesce(h, decode(repeat('00', 32), 'hex'));
    FOR i IN 1 .. cardinality(p_ids) LOOP
        h := sha256(h || convert_to(p_heads[i] || (cur + i)::text || ',"' || stamp || '"'
                                    || p_tails[i] || E'\n' || p_payloads[i], 'UTF8'));
        hashes := hashes || h;
    END LOOP;
    RETURN QUERY
    WITH ins AS (
        INSERT INTO events (event_id, stream_id, stream_version, event_type, source, subject,
                            clinic_id, occurred_at, recorded_at, correlation_id, causation_id,
                            actor, traceparent, payload, hash)
        SELECT x.id, p_stream, cur + x.n::integer, x.type, x.source, x.subject, x.clinic,
               x.occurred, ts, x.correlation, x.causation, x.actor, x.traceparent,
               x.payload::jsonb, hashes[x.n]
        FROM unnest(p_ids, p_types, p_sources, p_subjects, p_clinics, p_occurred, p_correlations,
                    p_causations, p_actors, p_traceparents, p_payloads)
             WITH ORDINALITY AS x(id, type, source, subject, clinic, occurred, correlation,
                                  causation, actor, traceparent, payload, n)
        ORDER BY x.n
        RETURNING events.global_position, events.stream_version, events.recorded_at, events.hash
    ), box AS (
        INSERT INTO outbox (global_position, topic)
        SELECT ins.global_position, p_topic FROM ins WHERE p_topic IS NOT NULL
    )
    SELECT ins.global_position, ins.stream_version, ins.recorded_at, ins.hash
    FROM ins ORDER BY ins.global_position;
END $$;
"""


def upgrade() -> None:
    run_script(TABLES)
    run_script("DROP FUNCTION IF EXISTS append_batch(text, integer, integer, jsonb, bytea[], text)")
    run_script(APPEND_EVENTS)
    run_script("DROP TABLE IF EXISTS schema_migrations")


def downgrade() -> None:
    raise NotImplementedError("the event store is append-only; restore from a backup instead")
