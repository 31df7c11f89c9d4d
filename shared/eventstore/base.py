"""The event store protocol and what both implementations share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.envelope import Envelope, canonical_payload, chain_hash
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


class EventIdReused(Conflict):
    """An event id of the append is stored already, but not as this append would store it
    (other content, another stream or position, or only part of the batch)."""

    def __init__(self, event_id: str, why: str) -> None:
        super().__init__(f"event {event_id} is stored already {why}", field="event_id")
        self.event_id = event_id


def check_batch(stream_id: str, events: Sequence[Envelope]) -> None:
    if not events:
        raise ValueError("append needs at least one event")
    seen: set[object] = set()
    for env in events:
        if env.stream_id != stream_id:
            raise ValueError("every event of an append must belong to the appended stream")
        if env.id in seen:
            raise ValueError(f"event {env.id} appears twice in one append")
        seen.add(env.id)


def _same_content(stored: Envelope, new: Envelope) -> bool:
    """Everything the caller chose about the event; version, recorded_at and position are
    the store's, so a retry may not know them."""
    return (stored.stream_id, stored.type, stored.source, stored.subject, stored.clinic_id, stored.time,
            stored.correlation_id, stored.causation_id, stored.actor) == \
        (new.stream_id, new.type, new.source, new.subject, new.clinic_id, new.time,
         new.correlation_id, new.causation_id, new.actor) and \
        canonical_payload(stored.payload) == canonical_payload(new.payload)


def replayed_append(stream_id: str, expected_version: int | None, events: Sequence[Envelope],
                    stored: dict[str, Envelope]) -> AppendResult:
    """The answer to an append some of whose event ids are stored already (``stored``, by
    id): a no-op returning what was stored when it is exactly the earlier append again —
    every id stored, in this stream, one after another, where ``expected_version`` put them,
    with the same content — and :class:`EventIdReused` naming the first id that differs
    otherwise. A retry that adds an event to a stored batch is refused, never half-applied."""
    found = [stored.get(str(e.id)) for e in events]
    first = found[0]
    for env, old in zip(events, found, strict=True):
        if old is None:
            missing_after = next((str(e.id) for e, o in zip(events, found, strict=True) if o is not None), "")
            raise EventIdReused(missing_after, "but this append has events the stored one did not")
        if old.stream_id != stream_id:
            raise EventIdReused(str(env.id), "in another stream")
        if not _same_content(old, env):
            raise EventIdReused(str(env.id), "with other content")
    assert first is not None
    versions = [o.stream_version for o in found if o is not None]
    start = first.stream_version
    if versions != list(range(start, start + len(events))):
        raise EventIdReused(str(events[0].id), "at other positions")
    if expected_version is not None and start != expected_version + 1:
        raise EventIdReused(str(events[0].id), f"after version {start - 1}, not {expected_version}")
    return AppendResult(tuple(o for o in found if o is not None), duplicate=True)
