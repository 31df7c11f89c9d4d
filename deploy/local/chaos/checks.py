"""What must hold after the faults, checked like Kafka's TransactionsTest: read everything back
(the topics to their ends, the event stores, the projections' tracking) and compare sets.

Each check answers ``{"ok": bool, ...}`` with counts and at most a few example ids (event ids
and correlation ids are random UUIDs: no patient data).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka.security import client_security

from . import platform as pf
from .load import Ledger
from .poison import HEADER

EXAMPLES = 5


@dataclass
class TopicRecord:
    event_id: str | None
    source: str | None
    stream: str | None
    sequence: int | None
    poison: str | None
    headers: dict[str, str] = field(default_factory=dict)


async def read_topics(bootstrap: str, topics: list[str]) -> dict[str, list[TopicRecord]]:
    """Every record of ``topics`` up to the end offsets seen at the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed", max_partition_fetch_bytes=4 * 1024 * 1024,
                                **client_security())
    await consumer.start()
    out: dict[str, list[TopicRecord]] = {t: [] for t in topics}
    try:
        tps = await partitions(bootstrap, topics)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in fetched.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        continue
                    h = {k: (v or b"").decode("utf-8", "replace") for k, v in r.headers or ()}
                    seq = h.get("ce_sequence")
                    out[tp.topic].append(TopicRecord(h.get("ce_id"), h.get("ce_source"), h.get("ce_streamid"),
                                                     int(seq) if seq and seq.isdigit() else None, h.get(HEADER),
                                                     {k: v for k, v in h.items() if k.startswith("dlq_")}))
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return out


async def partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of those of ``topics`` that exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([t for t in topics if t in existing])
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]


async def _fetch(service: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pf.owner_url(service).split("?")[0])
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def _examples(values: Any) -> list[str]:
    return sorted(str(v) for v in values)[:EXAMPLES]


async def quiet(observer: Any, timeout: float) -> float | None:
    """Seconds until every outbox is empty (or parked) and every group's lag is 0."""
    from .faults import until

    async def settled() -> bool:
        for service in pf.SERVICE_NAMES:
            rows = await _fetch(service, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL")
            if rows[0]["n"]:
                return False
        lag = await observer.lag()
        return bool(lag) and not any(lag.values())
    return await until(settled, timeout, 1.0)


def replay_verify(env: dict[str, str]) -> dict[str, Any]:
    """``carecoord replay --verify-only`` against coordination's live read models."""
    result = subprocess.run([sys.executable, "-m", "shared.cli", "replay", "--verify-only"], cwd=pf.ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return {"ok": result.returncode == 0 and all("DIFFERS" not in line for line in lines),
            "exit_code": result.returncode, "output": lines[-6:], "stderr": result.stderr.strip().splitlines()[-3:]}


async def check_all(platform: pf.Platform, ledger: Ledger, poison: dict[str, dict[str, str]],
                    group_topics: dict[str, set[str]], final_lag: dict[str, int],
                    faults: list[dict[str, Any]]) -> dict[str, Any]:
    ns = platform.namespace
    event_topics = {s: f"{ns}carecoord.{s}.events.v1" for s in pf.SERVICE_NAMES}
    all_topics = [*event_topics.values(), f"{ns}carecoord.coordination.flags.v1"]
    dlqs = [f"{t}.dlq" for t in event_topics.values()]
    records = await read_topics(platform.bootstrap, all_topics + dlqs)
    checks: dict[str, Any] = {}

    stores: dict[str, list[asyncpg.Record]] = {}
    for service in pf.SERVICE_NAMES:
        stores[service] = await _fetch(service, (
            "SELECT e.event_id::text AS id, e.stream_id, e.stream_version, e.correlation_id, o.topic, "
            "o.parked_at IS NOT NULL AS parked FROM events e LEFT JOIN outbox o USING (global_position)"))

    # 1. every acknowledged command recorded its event(s)
    correlations = {s: {r["correlation_id"] for r in rows} for s, rows in stores.items()}
    lost_commands = [c for s, c in ledger.acked.values() if c not in correlations.get(s, set())]
    checks["acknowledged_commands_recorded"] = {"ok": not lost_commands, "acknowledged": len(ledger.acked),
                                                "missing": len(lost_commands), "examples": _examples(lost_commands)}

    # 2. the store and the topics hold the same events (set equality by event id)
    on_topic: dict[str, set[str]] = {t: {r.event_id for r in records[t] if r.poison is None and r.event_id}
                                     for t in all_topics}
    missing, unknown, total = [], [], 0
    for service, rows in stores.items():
        for topic in {r["topic"] for r in rows if r["topic"]}:
            stored = {r["id"] for r in rows if r["topic"] == topic and not r["parked"]}
            total += len(stored)
            missing += stored - on_topic.get(topic, set())
        published = set().union(*(on_topic[t] for t in all_topics if f"carecoord.{service}." in t))
        unknown += published - {r["id"] for r in rows}
    checks["store_equals_topics"] = {"ok": not missing and not unknown, "events": total,
                                     "missing_from_topics": len(missing), "not_in_any_store": len(unknown),
                                     "examples": _examples(missing + unknown)}
    parked = sum(1 for rows in stores.values() for r in rows if r["parked"])
    checks["nothing_parked"] = {"ok": parked == 0, "parked": parked}

    # 3. duplicates on the topics (at least once: allowed there) and sequences per stream
    seen: dict[str, int] = {}
    duplicates = 0
    sequences: dict[tuple[str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for topic in all_topics:
        for r in records[topic]:
            if r.poison is not None or r.event_id is None:
                continue
            duplicates += r.event_id in seen
            seen[r.event_id] = seen.get(r.event_id, 0) + 1
            if r.sequence and r.stream and r.source:
                sequences[(r.source, r.stream)][r.sequence].add(r.event_id)
    gaps = [f"{k[0]}:{k[1][:8]}…" for k, seqs in sequences.items() if sorted(seqs) != list(range(1, len(seqs) + 1))]
    clashes = [f"{k[0]}:{k[1][:8]}…" for k, seqs in sequences.items() if any(len(ids) > 1 for ids in seqs.values())]
    checks["sequences_contiguous"] = {"ok": not gaps and not clashes, "streams": len(sequences), "gaps": len(gaps),
                                      "two_events_one_sequence": len(clashes), "examples": (gaps + clashes)[:EXAMPLES]}
    checks["topic_redeliveries"] = {"ok": True, "records_published_twice": duplicates,
                                    "note": "at least once on the topics; read models dedupe by event id"}

    # 4. every projection applied each event of its topics exactly once (and no poison)
    projections = {}
    for service in pf.SERVICE_NAMES:
        rows = await _fetch(service, "SELECT projection, topic, event_id::text AS id FROM projection_tracking")
        by_projection: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for r in rows:
            by_projection[r["projection"]].append(r)
        for name, tracked in by_projection.items():
            topics = {r["topic"] for r in tracked}
            expected = set().union(*(on_topic.get(t, set()) for t in topics))
            ids = [r["id"] for r in tracked]
            got = set(ids)
            twice = len(ids) - len(got)
            projections[f"{service}/{name}"] = {
                "topics": sorted(t.removeprefix(ns) for t in topics), "applied": len(got),
                "missing": len(expected - got), "extra": len(got - expected), "twice": twice,
                "examples": _examples((expected - got) | (got - expected))}
    rows = await _fetch("coordination", "SELECT count(*) - count(DISTINCT event_id) AS n FROM timeline_entries")
    twice = rows[0]["n"]
    checks["read_models_exactly_once"] = {
        "ok": bool(projections) and twice == 0 and all(not (p["missing"] or p["extra"] or p["twice"])
                                                       for p in projections.values()),
        "timeline_rows_twice": twice, "projections": projections}

    # 5. every 5xx was a 503 with Retry-After (and was retried by the client)
    checks["only_503_with_retry_after"] = {"ok": not ledger.bad_5xx, "good_503": ledger.good_503,
                                           "bad": ledger.bad_5xx[:EXAMPLES], "bad_count": len(ledger.bad_5xx)}

    # 6. the poison records: all in the dead-letter topics, with reasons, by every group reading them
    dead: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    reasons: dict[str, int] = defaultdict(int)
    for dlq in dlqs:
        for r in records[dlq]:
            if r.poison is not None and r.headers.get("dlq_error") and r.headers.get("dlq_consumer_group"):
                dead[dlq.removesuffix(".dlq")][r.poison].add(r.headers.get("dlq_consumer_group", ""))
                reasons[r.headers.get("dlq_error_type", "?")] += 1
    absent, per_kind = [], defaultdict(int)
    for topic, ids in poison.items():
        readers = {g for g, ts in group_topics.items() if topic in ts}
        for pid, kind in ids.items():
            if not readers <= dead[topic].get(pid, set()):
                absent.append(pid)
                per_kind[kind] += 1
    injected = sum(len(ids) for ids in poison.values())
    checks["poison_dead_lettered"] = {"ok": injected > 0 and not absent, "injected": injected,
                                      "missing_from_dlq": len(absent), "missing_by_kind": dict(per_kind),
                                      "dead_letters": sum(len(g) for d in dead.values() for g in d.values()),
                                      "reasons": dict(reasons), "examples": _examples(absent)}

    # 7. lag back to 0
    checks["lag_returns_to_zero"] = {"ok": bool(final_lag) and not any(final_lag.values()), "lag": final_lag}

    # 8. every fault recovered from
    unrecovered = [f"{f['kind']} {f['target']} at {f['injected_at']} s" for f in faults if f["recovered_after"] is None]
    checks["faults_recovered"] = {"ok": not unrecovered, "faults": len(faults), "unrecovered": unrecovered}

    # 8b. every restart of a clinical service shown in coordination's /ready (peers)
    reported = [f for f in faults if "seen_in_coordination_ready" in f["detail"]]
    unseen = [f"{f['target']} at {f['injected_at']} s" for f in reported
              if not f["detail"]["seen_in_coordination_ready"]]
    checks["restarts_in_ready"] = {"ok": not unseen, "restarts": len(reported), "not_shown": unseen}

    # 8c. the kills between the broker's ack and the outbox mark: each batch published again
    aimed = [f for f in faults if f["kind"] == "kill_after_ack"]
    fired = [f for f in aimed if f["detail"].get("fired")]
    lost = [f"{f['target']} at {f['injected_at']} s" for f in fired if not f["detail"].get("republished")]
    checks["killed_after_ack_republished"] = {
        "ok": not lost and (bool(fired) or not aimed), "scheduled": len(aimed), "fired": len(fired),
        "acknowledged_not_marked": sum(f["detail"].get("acknowledged_not_marked", 0) for f in fired),
        "not_republished": lost}

    # 9. coordination's read models and flags equal a clean replay
    replay_env = dict(platform.env)
    checks["replay_equals_live"] = await asyncio.to_thread(replay_verify, replay_env)
    return checks
