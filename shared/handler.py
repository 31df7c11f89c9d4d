"""Command handling shared by every service: load stream → decide → append.

A decider is a pair of pure functions; this is the imperative shell around them. The
append expects the version that was read, so a concurrent writer makes it fail with
:class:`ConcurrencyError` (HTTP 409) instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg

from shared.envelope import EventRegistry, Metadata, new_envelope
from shared.events import DomainEvent
from shared.eventstore.base import AppendResult, ConcurrencyError
from shared.eventstore.postgres import PostgresEventStore

S = TypeVar("S")


@dataclass(frozen=True)
class Decider(Generic[S]):
    service: str
    initial: S
    decide: Callable[[S, Any], Sequence[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]
    registry: EventRegistry


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
    state = decider.initial
    history = await store.read_stream(stream_id)
    for env in history:
        state = decider.evolve(state, decider.registry.decode(env))
    return Loaded(state, len(history))


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
    return Outcome(result, after)
