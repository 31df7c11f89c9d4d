"""In-memory event store for pure unit tests; same contract as PostgreSQL's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shared.envelope import Envelope, chain_hash
from shared.eventstore.base import (
    AppendResult,
    ConcurrencyError,
    VerifyResult,
    check_batch,
    replayed_append,
    verify_chain,
)


class InMemoryEventStore:
    def __init__(self) -> None:
        self._streams: dict[str, list[Envelope]] = {}
        self._all: list[Envelope] = []
        self._by_id: dict[str, Envelope] = {}
        self._lock = asyncio.Lock()

    async def append(
        self, stream_id: str, expected_version: int | None, events: Sequence[Envelope], *,
        within: Callable[[Any, AppendResult], Awaitable[None]] | None = None,
    ) -> AppendResult:
        """As PostgreSQL's: ``within`` runs before the events become visible (with no
        connection to write through), and if it raises nothing is stored."""
        check_batch(stream_id, events)
        async with self._lock:
            known = {str(e.id): self._by_id[str(e.id)] for e in events if str(e.id) in self._by_id}
            if known:
                return replayed_append(stream_id, expected_version, events, known)
            stream = self._streams.setdefault(stream_id, [])
            if expected_version is not None and expected_version != len(stream):
                raise ConcurrencyError(stream_id, expected_version, len(stream))
            # recorded_at never goes backwards (PostgreSQL promises it per stream; one lock here
            # serialises every append, so across the store too).
            now = datetime.now(UTC)
            if self._all and self._all[-1].recorded_at is not None:
                now = max(now, self._all[-1].recorded_at)
            prev = stream[-1].hash if stream else None
            stored = []
            for i, env in enumerate(events):
                positioned = replace(env, stream_version=len(stream) + 1 + i, recorded_at=now,
                                     global_position=len(self._all) + 1 + i)
                positioned = replace(positioned, hash=chain_hash(prev, positioned))
                prev = positioned.hash
                stored.append(positioned)
            result = AppendResult(tuple(stored))
            if within is not None:
                await within(None, result)
            for positioned in stored:
                stream.append(positioned)
                self._all.append(positioned)
                self._by_id[str(positioned.id)] = positioned
            return result

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        return [e for e in self._streams.get(stream_id, []) if e.stream_version >= from_version]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Envelope]:
        return self._all[after_position:after_position + limit]

    async def read_subject(self, subject: str, as_of: datetime | None = None) -> list[Envelope]:
        """All events about one patient, optionally only those recorded by ``as_of``."""
        return [e for e in self._all if e.subject == subject
                and (as_of is None or (e.recorded_at is not None and e.recorded_at <= as_of))]

    async def stream_version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, []))

    async def verify(self, stream_id: str) -> VerifyResult:
        return verify_chain(stream_id, self._streams.get(stream_id, []))

    def tamper(self, stream_id: str, version: int, **changes: object) -> None:
        """Alter a stored event in place, as an attacker editing the table would."""
        stream = self._streams[stream_id]
        stream[version - 1] = replace(stream[version - 1], **changes)  # type: ignore[arg-type]
