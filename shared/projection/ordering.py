"""Order per stream, checked rather than assumed.

Kafka keeps one key's records in order, but the history can still arrive with holes or
repeats: a relay re-sends after a crash, a record of a stream was dead-lettered, a
partition was re-keyed. Each event carries its stream version (``ce_sequence``); the
runner keeps the last one applied per stream and projection, in the same transaction as
the read model and the tracking rows, and:

- a sequence at or below it was applied already: skipped;
- the next one is applied, then any parked successors it unblocks, in order;
- one further ahead is parked (kept in ``projection_parked`` with its original record)
  until the missing event arrives, so its offset can be committed and the rest of the
  partition flows on; the runner reports how many are held back.

Events without a sequence (0, unknown) are applied as they come, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import ConsumerRecord

from shared.projection.items import Item, ParkedRow, StreamKey

# Tables: shared/migrations/versions/kernel_0002_stream_order.py


@dataclass
class Plan:
    """What to do with a batch's fresh events, in the order to apply them."""

    apply: list[Item] = field(default_factory=list)
    park: list[Item] = field(default_factory=list)  # newly held back behind a gap
    stale: list[Item] = field(default_factory=list)  # sequence applied already


def plan(items: Iterable[Item], positions: dict[StreamKey, int],
         parked: dict[StreamKey, dict[int, Item]], *, legacy: bool = False) -> Plan:
    """Sort ``items`` (in arrival order) into apply / park / stale against the streams'
    ``positions`` (last applied sequence) and their ``parked`` events (by sequence)."""
    pos = dict(positions)
    waiting = {key: dict(by_seq) for key, by_seq in parked.items()}
    out = Plan()
    for item in items:
        key = item.stream
        if key is None:
            out.apply.append(item)
            continue
        seq = item.sequence
        last = pos.get(key)
        if last is None:
            last = seq - 1 if legacy else 0
        if seq <= last or seq in waiting.get(key, {}):
            out.stale.append(item)
            continue
        if seq > last + 1:
            waiting.setdefault(key, {})[seq] = item
            out.park.append(item)
            continue
        out.apply.append(item)
        pos[key] = seq
        successors = waiting.get(key, {})
        while pos[key] + 1 in successors:
            nxt = successors.pop(pos[key] + 1)
            if nxt in out.park:
                out.park.remove(nxt)  # parked a moment ago in this same batch
            out.apply.append(nxt)
            pos[key] += 1
    return out


def _keys(items: Iterable[Item]) -> tuple[list[str], list[str]]:
    keys = sorted({k for k in (i.stream for i in items) if k is not None})
    return [k[0] for k in keys], [k[1] for k in keys]


class StreamPositions:
    """The tables behind :func:`plan` for one projection; every call runs on the caller's
    connection, inside the runner's batch transaction."""

    def __init__(self, projection: str) -> None:
        self.projection = projection

    async def is_legacy(self, conn: asyncpg.Connection) -> bool:
        return bool(await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM projection_order_legacy WHERE projection = $1)", self.projection))

    async def positions(self, conn: asyncpg.Connection, items: Sequence[Item]) -> dict[StreamKey, int]:
        sources, streams = _keys(items)
        if not sources:
            return {}
        rows = await conn.fetch(
            "SELECT p.source, p.stream_id, p.last_sequence FROM projection_stream_position p "
            "JOIN unnest($2::text[], $3::text[]) AS k(source, stream_id) USING (source, stream_id) "
            "WHERE p.projection = $1 FOR UPDATE OF p", self.projection, sources, streams)
        return {(r["source"], r["stream_id"]): int(r["last_sequence"]) for r in rows}

    async def parked(self, conn: asyncpg.Connection, items: Sequence[Item],
                     decode: Callable[[ConsumerRecord], Item]) -> list[Item]:
        """The parked events of the streams ``items`` belong to, decoded afresh."""
        sources, streams = _keys(items)
        if not sources:
            return []
        rows = await conn.fetch(
            "SELECT p.* FROM projection_parked p "
            "JOIN unnest($2::text[], $3::text[]) AS k(source, stream_id) USING (source, stream_id) "
            "WHERE p.projection = $1 ORDER BY p.source, p.stream_id, p.sequence FOR UPDATE OF p",
            self.projection, sources, streams)
        out = []
        for r in rows:
            value, key = r["record_value"], r["record_key"]
            record = ConsumerRecord(
                topic=r["topic"], partition=r["partition"], offset=r["offset"], timestamp=-1,
                timestamp_type=0, key=key, value=value, checksum=None,
                serialized_key_size=len(key) if key is not None else -1,
                serialized_value_size=len(value) if value is not None else -1,
                headers=list(zip(r["header_names"], r["header_values"], strict=True)))
            item = decode(record)
            item.parked = ParkedRow(r["source"], r["stream_id"], int(r["sequence"]), r["event_id"])
            if item.envelope is None or item.stream != (r["source"], r["stream_id"]):
                # It decoded when it was parked; now it does not (a registry changed). It
                # leaves the parking table for the dead-letter topic, as poison would.
                item.error = item.error or ValueError("a parked record no longer decodes to its stream")
                item.envelope = None
            out.append(item)
        return out

    async def park(self, conn: asyncpg.Connection, items: Sequence[Item]) -> None:
        rows = []
        for item in items:
            assert item.envelope is not None and item.stream is not None
            record = item.record
            headers = list(record.headers or ())
            rows.append((self.projection, item.stream[0], item.stream[1], item.sequence, item.envelope.id,
                         record.topic, record.partition, record.offset, record.key, record.value,
                         [h[0] for h in headers], [h[1] for h in headers]))
        if rows:
            await conn.executemany(
                "INSERT INTO projection_parked (projection, source, stream_id, sequence, event_id, topic,"
                " partition, \"offset\", record_key, record_value, header_names, header_values)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING", rows)

    async def unpark(self, conn: asyncpg.Connection, items: Sequence[Item]) -> None:
        keys = [(i.parked.source, i.parked.stream_id, i.parked.sequence) for i in items if i.parked]
        if keys:
            await conn.execute(
                "DELETE FROM projection_parked p USING unnest($2::text[], $3::text[], $4::bigint[]) "
                "AS k(source, stream_id, sequence) WHERE p.projection = $1 AND p.source = k.source "
                "AND p.stream_id = k.stream_id AND p.sequence = k.sequence",
                self.projection, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])

    async def advance(self, conn: asyncpg.Connection, applied: Sequence[Item]) -> None:
        """Record the last sequence applied per stream (items are contiguous per stream)."""
        last: dict[StreamKey, int] = {}
        for item in applied:
            key = item.stream
            if key is not None:
                last[key] = max(last.get(key, 0), item.sequence)
        if last:
            keys = list(last)
            await conn.execute(
                "INSERT INTO projection_stream_position (projection, source, stream_id, last_sequence) "
                "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[]) "
                "ON CONFLICT ON CONSTRAINT projection_stream_position_pkey DO UPDATE "
                "SET last_sequence = GREATEST(projection_stream_position.last_sequence, "
                "EXCLUDED.last_sequence)",
                self.projection, [k[0] for k in keys], [k[1] for k in keys], [last[k] for k in keys])

    async def held_back(self, conn: asyncpg.Connection | asyncpg.Pool) -> int:
        return int(await conn.fetchval(
            "SELECT count(*) FROM projection_parked WHERE projection = $1", self.projection))
