"""The event store protocol and what both implementations share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.envelope import Envelope, chain_hash
from shared.errors import Conflict


class ConcurrencyError(Conflict):
    """Another writer appended to the stream first; reload and decide again."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(
            f"stream was changed concurrently: expected version {expected}, it is at {actual}",
            field="expected_version",
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class AppendResult:
    events: tuple[Envelope, ...]  # as stored: versions, recorded_at, positions set
    duplicate: bool = False  # the events were stored already: nothing was appended

    @property
    def version(self) -> int:
        return self.events[-1].stream_version if self.events else 0


@dataclass(frozen=True)
class VerifyResult:
    stream_id: str
    checked: int
    ok: bool
    first_bad_event_id: str | None = None
    first_bad_version: int | None = None
    reason: str | None = None


# A write in the append's transaction; gets the store's connection (None in memory).
SideWrite = Callable[[Any, "AppendResult"], Awaitable[None]]


class EventStore(Protocol):
    async def append(
        self, stream_id: str, expected_version: int | None, events: Sequence[Envelope], *,
        within: SideWrite | None = None,
    ) -> AppendResult: ...

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]: ...

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Envelope]: ...

    async def read_subject(self, subject: str, as_of: datetime | None = None) -> list[Envelope]: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def verify(self, stream_id: str) -> VerifyResult: ...


def verify_chain(stream_id: str, events: Sequence[Envelope]) -> VerifyResult:
    """Recompute every hash from the stored content and the previous event's hash."""
    prev: bytes | None = None
    for i, env in enumerate(events, start=1):
        reason = None
        if env.stream_version != i:
            reason = f"version {env.stream_version} where {i} was expected"
        elif env.hash != chain_hash(prev, env):
            reason = "content does not match its hash"
        if reason:
            return VerifyResult(stream_id, i, False, str(env.id), env.stream_version, reason)
        prev = env.hash
    return VerifyResult(stream_id, len(events), True)


def check_batch(stream_id: str, events: Sequence[Envelope]) -> None:
    if not events:
        raise ValueError("append needs at least one event")
    for env in events:
        if env.stream_id != stream_id:
            raise ValueError("every event of an append must belong to the appended stream")
