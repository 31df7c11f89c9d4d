"""Kernel: appends to different streams commit side by side; readers follow commit order by
transaction id instead of by position.

Until now every append of a store took one exclusive advisory lock and held it through the
commit, so positions became visible in the order they were drawn and a reader tailing
``position > last`` never skipped one. The price: one fsync per append with every other
writer waiting, never a shared (group) commit.

Now an append takes

- the store's append lock in SHARE mode: appends never wait for each other on it, but
  whoever needs a moment with no append in flight (a chain checkpoint, ``shared.audit``)
  takes it exclusively and waits for the appends before it to commit;
- an exclusive lock on its stream (one bigint key from the schema and the stream id), so a
  stream's appends are still one after the other: the head read, the version check and the
  hash chain stay exact and a stream's events commit in version order.

Each event row records the id of the transaction that wrote it (``transaction_id``, xid8).
A gap-safe reader orders by ``(transaction_id, global_position)`` and must only read rows of
transactions below every transaction that may still write to this store. Which those are is
known because a transaction takes the append lock (share mode) before it has a transaction
id: ``take_append_lock`` refuses (CC004) a transaction that wrote anything before it (a
caller appending inside its own transaction calls it first, see
``PostgresEventStore.begin_appends``), and the lock is held until the end. So the writers
that may still add rows before a reader's cursor are the transactions in the reader's
snapshot that hold this store's lock now, or that have ended since the snapshot was taken
(they may have been writers); transactions of other stores, schemas and databases do not
hold a reader back (see ``shared.eventstore.postgres``). Rows written before this revision
keep transaction id 0 and come first, in position order, which was their commit order under
the old lock.

``recorded_at`` now never goes backwards within a stream (the stream's previous event is the
floor); across streams it is the database clock of each append.

Revision ID: kernel_0005
"""

from __future__ import annotations

from shared.migrations.script import run_script

revision = "kernel_0005"
down_revision = "kernel_0004"
branch_labels = None
depends_on = None

COLUMN = """
ALTER TABLE events ADD COLUMN IF NOT EXISTS transaction_id xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS events_commit_order ON events (transaction_id, global_position);
"""

# The store's append lock in share mode, once per transaction (a transaction-local setting
# remembers it), and only before the transaction has an id (see above).
TAKE_APPEND_LOCK = r"""
CREATE OR REPLACE FUNCTION take_append_lock(p_lock integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF current_setting('carecoord.appending', true) IS DISTINCT FROM current_schema() THEN
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'CC004',
                MESSAGE = 'the transaction wrote before it took the append lock (begin_appends)';
        END IF;
        PERFORM pg_advisory_xact_lock_shared(p_lock, hashtext(current_schema()));
        PERFORM set_config('carecoord.appending', current_schema(), true);
    END IF;
END $$;
"""

# As kernel_0001's function (same arguments, same answers, same errors), with the locking
# described above. The stream lock's key is one bigint, a key space of its own: it cannot
# meet the two-integer keys of the append, relay and checkpoint locks.
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
    PERFORM take_append_lock(p_lock);
    PERFORM pg_advisory_xact_lock(hashtextextended(current_schema() || '/' || p_stream, 0));
    IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_ids)) THEN
        RAISE EXCEPTION USING ERRCODE = 'CC003', MESSAGE = 'an event id is stored already';
    END IF;
    SELECT e.stream_version, e.hash, e.recorded_at INTO cur, h, ts FROM events e
        WHERE e.stream_id = p_stream ORDER BY e.stream_version DESC LIMIT 1;
    cur := coalesce(cur, 0);
    IF p_expected IS NOT NULL AND p_expected <> cur THEN
        RAISE EXCEPTION USING ERRCODE = 'CC001', MESSAGE = cur::text;
    END IF;
    ts := greatest(clock_timestamp(), ts);
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
    run_script(COLUMN)
    run_script(TAKE_APPEND_LOCK)
    run_script(APPEND_EVENTS)


def downgrade() -> None:
    from shared.migrations.versions.kernel_0001_baseline import APPEND_EVENTS as SERIAL_APPEND
    run_script(SERIAL_APPEND)
    run_script("DROP FUNCTION IF EXISTS take_append_lock(integer)")
    run_script("DROP INDEX IF EXISTS events_commit_order; ALTER TABLE events DROP COLUMN transaction_id;")
