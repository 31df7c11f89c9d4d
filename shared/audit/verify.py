"""``audit verify``: every stream's chain, every checkpoint, and the topic, against each other.

Three independent witnesses: the chain (each event seals the one before), the signed
checkpoints (heads and the last position, signed with a key the database does not hold) and
the topic (every published event with its hash in ``ce_hash``). An edit shows in the chain;
an edit with the chain recomputed shows against a checkpoint or the topic; a deleted tail or
stream shows against a checkpoint and the topic; an event the store holds but the topic
never got shows against the topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.audit.checkpoints import checkpoints, key_id, verify_signature
from shared.envelope import chain_hash
from shared.eventstore.postgres import _COLUMNS, row_to_envelope
from shared.kafka.security import client_security

CHUNK = 5000


@dataclass(frozen=True)
class Finding:
    service: str
    stream_id: str | None
    position: int | None  # the stream version concerned
    kind: str
    detail: str

    def line(self) -> str:
        where = f"{self.stream_id} @ {self.position}" if self.stream_id else "store"
        return f"{self.service}: {where}: {self.kind}: {self.detail}"


@dataclass
class Report:
    service: str
    events: int = 0
    streams: int = 0
    checkpoints: int = 0
    published: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, stream_id: str | None, position: int | None, kind: str, detail: str) -> None:
        self.findings.append(Finding(self.service, stream_id, position, kind, detail))

    @property
    def ok(self) -> bool:
        return not self.findings


Progress = Callable[[str, int], None]


async def verify_store(pool: asyncpg.Pool, service: str, *, key: bytes | None = None,
                       bootstrap: str | None = None, topic: str | None = None,
                       progress: Progress | None = None) -> Report:
    report = Report(service)
    if await pool.fetchval("SELECT to_regclass('chain_checkpoints')") is None:
        report.add(None, None, "schema not current", "run `carecoord db upgrade` first")
        return report
    heads = await _check_chains(pool, report, progress)
    await _check_checkpoints(pool, report, heads, key)
    if bootstrap and topic:
        await _check_topic(pool, report, bootstrap, topic)
    else:
        report.notes.append("topic not checked (no Kafka bootstrap or topic given)")
    return report


async def _check_chains(pool: asyncpg.Pool, report: Report,
                        progress: Progress | None) -> dict[str, tuple[int, bytes]]:
    """Recompute every hash, stream by stream, in chunks; the heads found (version, hash)."""
    heads: dict[str, tuple[int, bytes]] = {}
    broken: set[str] = set()
    last_key: tuple[str, int] = ("", 0)
    async with pool.acquire() as conn:
        while True:
            rows = await conn.fetch(
                f"SELECT global_position, {_COLUMNS} FROM events WHERE (stream_id, stream_version) > ($1, $2) "
                "ORDER BY stream_id, stream_version LIMIT $3", last_key[0], last_key[1], CHUNK)
            if not rows:
                break
            for row in rows:
                env = row_to_envelope(row)
                previous = heads.get(env.stream_id)
                expected_version = previous[0] + 1 if previous else 1
                if env.stream_id not in broken:
                    if env.stream_version != expected_version:
                        report.add(env.stream_id, env.stream_version, "gap",
                                   f"version {env.stream_version} follows {expected_version - 1}")
                        broken.add(env.stream_id)
                    elif env.hash != chain_hash(previous[1] if previous else None, env):
                        report.add(env.stream_id, env.stream_version, "altered",
                                   "the stored content does not match its hash")
                        broken.add(env.stream_id)
                heads[env.stream_id] = (env.stream_version, env.hash or b"")
            report.events += len(rows)
            last_key = (rows[-1]["stream_id"], rows[-1]["stream_version"])
            if progress is not None:
                progress("chains", report.events)
    report.streams = len(heads)
    return heads


async def _check_checkpoints(pool: asyncpg.Pool, report: Report, heads: dict[str, tuple[int, bytes]],
                             key: bytes | None) -> None:
    cps = await checkpoints(pool)
    report.checkpoints = len(cps)
    if not cps:
        report.notes.append("no checkpoints yet")
        return
    if key is None:
        report.notes.append("checkpoints not checked (no checkpoint key given)")
        return
    previous_signature: str | None = None
    for cp in cps:
        if cp.key_id != key_id(key):
            report.notes.append(f"checkpoint {cp.checkpoint_id} was signed with another key ({cp.key_id})")
        elif not verify_signature(key, cp):
            report.add(None, None, "checkpoint forged", f"checkpoint {cp.checkpoint_id}'s signature is wrong")
        if cp.previous_signature != previous_signature:
            report.add(None, None, "checkpoint missing", f"checkpoint {cp.checkpoint_id} does not follow the one "
                       "before it: a checkpoint was deleted")
        previous_signature = cp.signature
    last = cps[-1].last_position
    top = await pool.fetchval("SELECT max(global_position) FROM events") or 0
    if top < last:
        report.add(None, top, "tail deleted", f"the store ends at position {top}; a checkpoint saw {last}")
    stored: dict[tuple[str, int], bytes] = {}
    wanted = {(s, v) for cp in cps for s, (v, _) in cp.heads.items()}
    for (stream_id, version) in wanted:
        if stream_id in heads and heads[stream_id][0] >= version:
            stored[(stream_id, version)] = b""
    rows = await pool.fetch(
        "SELECT stream_id, stream_version, hash FROM events e JOIN unnest($1::text[], $2::int[]) AS w(s, v) "
        "ON e.stream_id = w.s AND e.stream_version = w.v",
        [s for s, _ in wanted], [v for _, v in wanted])
    for r in rows:
        stored[(r["stream_id"], r["stream_version"])] = bytes(r["hash"])
    for cp in cps:
        for stream_id, (version, hash_hex) in cp.heads.items():
            if stream_id not in heads:
                report.add(stream_id, version, "stream deleted", f"checkpoint {cp.checkpoint_id} saw it at {version}")
            elif (stream_id, version) not in stored or heads[stream_id][0] < version:
                report.add(stream_id, version, "tail deleted",
                           f"the stream ends at {heads[stream_id][0]}; checkpoint {cp.checkpoint_id} saw {version}")
            elif stored[(stream_id, version)].hex() != hash_hex:
                report.add(stream_id, version, "rewritten",
                           f"the event's hash differs from checkpoint {cp.checkpoint_id}'s (chain recomputed?)")


async def _check_topic(pool: asyncpg.Pool, report: Report, bootstrap: str, topic: str) -> None:
    """Every stored, sent event on the topic once with the stored hash; nothing on the topic
    that the store lacks."""
    published: dict[str, tuple[str | None, int, str, int]] = {}
    counts: Counter[str] = Counter()
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [TopicPartition(topic, p["partition"]) for d in described if not d.get("error_code")
           for p in d["partitions"]]
    if not tps:
        if report.events:
            report.add(None, None, "topic missing", f"{topic} does not exist, yet the store holds events")
        else:
            report.notes.append("no topic yet (and no events)")
        return
    consumer = AIOKafkaConsumer(**client_security(),
                                bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    h = {k: v.decode() for k, v in r.headers or () if v is not None}
                    if "ce_id" in h:
                        counts[h["ce_id"]] += 1
                        published[h["ce_id"]] = (h.get("ce_hash"), int(h.get("ce_sequence", "0")),
                                                 h.get("ce_streamid", ""), r.offset)
                    if r.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    report.published = len(published)
    stored = {str(r["event_id"]): r for r in await pool.fetch(
        "SELECT e.event_id, e.stream_id, e.stream_version, e.hash, o.sent_at, o.parked_at FROM events e "
        "LEFT JOIN outbox o ON o.global_position = e.global_position")}
    for event_id, row in stored.items():
        if event_id not in published:
            if row["sent_at"] is None and row["parked_at"] is None:
                report.notes.append(f"{row['stream_id']} @ {row['stream_version']}: not yet published")
            elif row["parked_at"] is not None:
                report.notes.append(f"{row['stream_id']} @ {row['stream_version']}: parked, refused by the broker")
            else:
                report.add(row["stream_id"], row["stream_version"], "missing from Kafka",
                           "marked sent, but not on the topic")
            continue
        hash_hex, _, _, _ = published[event_id]
        if hash_hex is not None and hash_hex != bytes(row["hash"]).hex():
            report.add(row["stream_id"], row["stream_version"], "differs from Kafka",
                       "the stored hash is not the one published (content or chain rewritten)")
        if counts[event_id] > 1:
            report.notes.append(f"{row['stream_id']} @ {row['stream_version']}: published {counts[event_id]} times "
                                "(the relay delivers at least once; consumers skip repeats)")
    for event_id, (_, sequence, stream_id, _) in published.items():
        if event_id not in stored:
            report.add(stream_id or None, sequence, "deleted from the store", f"event {event_id} is on the topic")
