"""The event store's tables and its append function, as versioned SQL.

Applied once each, in order, by ``shared.db.migrate``; a migration is never edited after it
has shipped, a later one changes what an earlier one made.
"""

from shared.db import Migration

MIGRATIONS = [
    Migration(
        "001_events_outbox",
        """
        CREATE TABLE events (
            global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
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
            UNIQUE (stream_id, stream_version)
        );
        CREATE INDEX events_subject ON events (subject, global_position);
        CREATE TABLE outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            global_position bigint NOT NULL REFERENCES events (global_position),
            topic text NOT NULL,
            sent_at timestamptz
        );
        CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
        """,
    ),
    Migration(
        "002_append_batch",
        # The whole append in one round trip: take the append lock (keyed by schema), check
        # the head (CC001: not the expected version; CC002: not the version the caller
        # rendered the contents for), chain sha256(previous ‖ canonical content) as
        # shared.envelope.link_hash does, insert events and outbox rows. Events arrive as
        # one JSON array; each element is the event's canonical metadata array (the hashed
        # form, see shared.envelope.canonical_meta) followed by its payload and traceparent.
        # A volatile plpgsql function takes a new snapshot per statement, so the head is
        # read after the lock is granted and sees every append committed before it.
        """
        CREATE FUNCTION append_batch(p_stream text, p_expected integer, p_guess integer, p_batch jsonb,
                                     p_contents bytea[], p_topic text)
        RETURNS TABLE (global_position bigint, hash bytea)
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            cur integer;
            h bytea;
            hashes bytea[] := '{}';
            i integer;
        BEGIN
            PERFORM pg_advisory_xact_lock(1667330661, hashtext(current_schema()));
            SELECT e.stream_version, e.hash INTO cur, h FROM events e
                WHERE e.stream_id = p_stream ORDER BY e.stream_version DESC LIMIT 1;
            cur := coalesce(cur, 0);
            IF p_expected IS NOT NULL AND p_expected <> cur THEN
                RAISE EXCEPTION USING ERRCODE = 'CC001', MESSAGE = cur::text;
            END IF;
            IF p_guess <> cur THEN
                RAISE EXCEPTION USING ERRCODE = 'CC002', MESSAGE = cur::text;
            END IF;
            h := coalesce(h, decode(repeat('00', 32), 'hex'));
            FOR i IN 1 .. array_length(p_contents, 1) LOOP
                h := sha256(h || p_contents[i]);
                hashes := hashes || h;
            END LOOP;
            RETURN QUERY
            WITH ins AS (
                INSERT INTO events (event_id, stream_id, stream_version, event_type, source, subject,
                                    clinic_id, occurred_at, recorded_at, correlation_id, causation_id,
                                    actor, traceparent, payload, hash)
                SELECT (x.r->>0)::uuid, p_stream, cur + x.n::integer, x.r->>2, x.r->>1, x.r->>3, x.r->>5,
                       (x.r->>4)::timestamptz, (x.r->>8)::timestamptz, x.r->>9, x.r->>10, x.r->>11,
                       x.r->>13, x.r->12, hashes[x.n]
                FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS x(r, n)
                ORDER BY x.n
                RETURNING events.global_position, events.hash
            ), box AS (
                INSERT INTO outbox (global_position, topic)
                SELECT ins.global_position, p_topic FROM ins WHERE p_topic IS NOT NULL
            )
            SELECT ins.global_position, ins.hash FROM ins ORDER BY ins.global_position;
        END $$;
        """,
    ),
    Migration(
        "003_append_events",
        # Replaces append_batch. Typed arrays instead of a JSON array read by position; the
        # stream version and recorded_at are assigned here, under the append lock, so both
        # follow commit order: recorded_at never goes backwards across the store (the clock
        # may; the previous event's time is the floor), and an as-of read that sees event N+1
        # sees N. The hash covers them, so the canonical metadata is completed here too:
        # head ‖ version ‖ ,"recorded_at" ‖ tail, exactly as shared.envelope.canonical_meta
        # spells it. Any event id already stored (CC003) is answered before anything is
        # written; the caller decides whether that is an idempotent retry or a conflict.
        """
        DROP FUNCTION IF EXISTS append_batch(text, integer, integer, jsonb, bytea[], text);
        CREATE INDEX events_recorded_at ON events (recorded_at, global_position);
        CREATE FUNCTION append_events(
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
        """,
    ),
    Migration(
        "004_outbox_parking",
        # A record the broker refuses for good (too large, not authorised) is parked with the
        # reason instead of blocking the relay for ever; the unsent index leaves it out.
        """
        ALTER TABLE outbox ADD COLUMN parked_at timestamptz, ADD COLUMN parked_reason text;
        DROP INDEX outbox_unsent;
        CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL AND parked_at IS NULL;
        CREATE INDEX outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL;
        """,
    ),
]
