"""Command handling shared by every service: load stream → decide → append.

A decider is a pair of pure functions; this is the imperative shell around them. The
append expects the version that was read, so a concurrent writer makes it fail with
:class:`ConcurrencyError` (HTTP 409) instead of being overwritten.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from shared.envelope import EventRegistry, Metadata, new_envelope
from shared.events import DomainEvent
from shared.eventstore.base import AppendResult, ConcurrencyError
from shared.eventstore.postgres import PostgresEventStore

S = TypeVar("S")


class StateCache(Generic[S]):
    """Folded states of recently used streams, by stream id, least recently used dropped.

    Streams only grow, so a state cached at version v is the true state at v in every
    instance of the service; loading reads just the events after v. Another instance's
    appends are therefore picked up, never missed."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, Loaded[S]] = OrderedDict()

    def get(self, stream_id: str) -> Loaded[S] | None:
        entry = self._entries.get(stream_id)
        if entry is not None:
            self._entries.move_to_end(stream_id)
        return entry

    def put(self, stream_id: str, loaded: Loaded[S]) -> None:
        current = self._entries.get(stream_id)
        if current is not None and current.version > loaded.version:
            return  # a concurrent command already stored a later state
        self._entries[stream_id] = loaded
        self._entries.move_to_end(stream_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class Decider(Generic[S]):
    service: str
    initial: S
    decide: Callable[[S, Any], Sequence[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]
    registry: EventRegistry
    cache: StateCache[S] = field(default_factory=StateCache)


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    version: int


@dataclass(frozen=True)
class Outcome(Generic[S]):
    """What a command did: the stored events and the aggregate's state after them."""

    result: AppendResult
    state: S

    @property
    def version(self) -> int:
        return self.result.version


Hook = Callable[[asyncpg.Connection, Outcome[Any]], Awaitable[None]]


async def load(store: PostgresEventStore, decider: Decider[S], stream_id: str) -> Loaded[S]:
    """The stream's current state: the cached fold plus whatever was appended since."""
    cached = decider.cache.get(stream_id)
    state, version = (cached.state, cached.version) if cached else (decider.initial, 0)
    newer = await store.read_stream(stream_id, from_version=version + 1)
    for env in newer:
        state = decider.evolve(state, decider.registry.decode(env))
    loaded = Loaded(state, version + len(newer))
    if newer:
        decider.cache.put(stream_id, loaded)
    return loaded


async def execute(
    store: PostgresEventStore,
    decider: Decider[S],
    stream_id: str,
    command: Any,
    *,
    subject: str,
    clinic_id: str,
    metadata: Metadata,
    expected_version: int | None = None,
    within: Hook | None = None,
) -> Outcome[S]:
    """Decide on the current state and append; ``expected_version`` lets a client insist on
    the version it saw (optimistic concurrency end to end)."""
    loaded = await load(store, decider, stream_id)
    if expected_version is not None and expected_version != loaded.version:
        raise ConcurrencyError(stream_id, expected_version, loaded.version)
    events = decider.decide(loaded.state, command)
    if not events:
        return Outcome(AppendResult(()), loaded.state)
    after = loaded.state
    for event in events:
        after = decider.evolve(after, event)
    outcome_state = after

    async def hook(conn: asyncpg.Connection, result: AppendResult) -> None:
        if within is not None:
            await within(conn, Outcome(result, outcome_state))

    envelopes = [new_envelope(decider.service, stream_id, e, subject=subject, clinic_id=clinic_id,
                              metadata=metadata) for e in events]
    result = await store.append(stream_id, loaded.version, envelopes, within=hook)
    if not result.duplicate:
        decider.cache.put(stream_id, Loaded(after, result.version))
    return Outcome(result, after)
