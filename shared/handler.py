"""Command handling shared by every service: load stream → decide → append.

A decider is a pair of pure functions; this is the imperative shell around them. The
append expects the version that was read, so a concurrent writer makes it fail with
:class:`ConcurrencyError` (HTTP 409) instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.envelope import EventRegistry, Metadata, new_envelope
from shared.events import DomainEvent
from shared.eventstore.base import AppendResult, ConcurrencyError
from shared.eventstore.postgres import PostgresEventStore, SideWrite

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
    within: SideWrite | None = None,
) -> AppendResult:
    """Decide on the current state and append; ``expected_version`` lets a client insist on
    the version it saw (optimistic concurrency end to end)."""
    loaded = await load(store, decider, stream_id)
    if expected_version is not None and expected_version != loaded.version:
        raise ConcurrencyError(stream_id, expected_version, loaded.version)
    events = decider.decide(loaded.state, command)
    if not events:
        return AppendResult(())
    envelopes = [new_envelope(decider.service, stream_id, e, subject=subject, clinic_id=clinic_id,
                              metadata=metadata) for e in events]
    return await store.append(stream_id, loaded.version, envelopes, within=within)
