"""Signed checkpoints of the event store's chain heads.

The hash chain shows an edited event, but not one edited *with its chain recomputed* by
someone who can write the table, nor a deleted tail. A checkpoint records, for the streams
that grew since the previous one, their head (version and hash) and the store's last global
position, signed with an HMAC key that is not in the database; each checkpoint also signs
the previous one's signature, so a deleted checkpoint breaks the sequence. Whoever rewrites
history after a checkpoint can no longer make it agree without the key.

A checkpoint is taken under the append lock, so every position up to its last one is
committed and none can appear below it afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared.eventstore.postgres import APPEND_LOCK
from shared.retry import sleep_or_stop

log = logging.getLogger(__name__)


def key_id(key: bytes) -> str:
    """Names a key without revealing it, so a rotated key's checkpoints are told apart."""
    return hashlib.sha256(b"carecoord-checkpoint-key:" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_id: int
    created_at: datetime
    last_position: int
    heads: dict[str, tuple[int, str]]  # stream id → (version, hash hex)
    previous_signature: str | None
    key_id: str
    signature: str


def signed_content(created_at: datetime, last_position: int, heads: dict[str, tuple[int, str]],
                   previous_signature: str | None) -> bytes:
    body = {"created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "last_position": last_position,
            "heads": {s: [v, h] for s, (v, h) in sorted(heads.items())},
            "previous_signature": previous_signature}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(key: bytes, content: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _checkpoint(row: asyncpg.Record) -> Checkpoint:
    heads = {s: (int(v), str(h)) for s, (v, h) in json.loads(row["heads"]).items()}
    return Checkpoint(row["checkpoint_id"], row["created_at"], row["last_position"], heads,
                      row["previous_signature"], row["key_id"], row["signature"])


async def checkpoints(conn: asyncpg.Connection | asyncpg.Pool) -> list[Checkpoint]:
    rows = await conn.fetch("SELECT * FROM chain_checkpoints ORDER BY checkpoint_id")
    return [_checkpoint(r) for r in rows]


async def write_checkpoint(pool: asyncpg.Pool, key: bytes) -> Checkpoint | None:
    """A checkpoint of the streams that grew since the last one; None when nothing did."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", APPEND_LOCK)
        previous = await conn.fetchrow("SELECT * FROM chain_checkpoints ORDER BY checkpoint_id DESC LIMIT 1")
        after = previous["last_position"] if previous else 0
        last = await conn.fetchval("SELECT max(global_position) FROM events")
        if last is None or last <= after:
            return None
        rows = await conn.fetch(
            "SELECT DISTINCT ON (stream_id) stream_id, stream_version, hash FROM events "
            "WHERE global_position > $1 ORDER BY stream_id, stream_version DESC", after)
        heads = {r["stream_id"]: (r["stream_version"], bytes(r["hash"]).hex()) for r in rows}
        created = datetime.now(UTC)
        prev_sig = previous["signature"] if previous else None
        signature = sign(key, signed_content(created, last, heads, prev_sig))
        row = await conn.fetchrow(
            "INSERT INTO chain_checkpoints (created_at, last_position, heads, previous_signature, key_id, "
            "signature) VALUES ($1, $2, $3::jsonb, $4, $5, $6) RETURNING *",
            created, last, json.dumps({s: [v, h] for s, (v, h) in heads.items()}), prev_sig, key_id(key),
            signature)
        return _checkpoint(row)


async def run_checkpoints(pool: asyncpg.Pool, key: bytes, interval: float, stop: asyncio.Event) -> None:
    """Take a checkpoint every ``interval`` seconds while the service runs."""
    while not await sleep_or_stop(stop, interval):
        try:
            await write_checkpoint(pool, key)
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("checkpoint failed", extra={"error_type": type(exc).__name__})


def verify_signature(key: bytes, cp: Checkpoint) -> bool:
    expected = sign(key, signed_content(cp.created_at, cp.last_position, cp.heads, cp.previous_signature))
    return hmac.compare_digest(expected, cp.signature)


def heads_json(heads: dict[str, tuple[int, str]]) -> dict[str, Any]:
    return {s: {"version": v, "hash": h} for s, (v, h) in heads.items()}
