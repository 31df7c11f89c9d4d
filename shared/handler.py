"""Command handling shared by every service: load stream → decide → append.

A :class:`Decider` is the pure part and nothing else: ``initial``, ``decide`` and ``evolve``.
Everything about storage — which service writes the events, how payloads are decoded and
upcast, which folded states are cached — belongs to the :class:`CommandHandler` that runs a
decider against an event store (pyeventsourcing's ``Repository`` plays the same role). The
append expects the version that was read, so a concurrent writer makes it fail with
:class:`ConcurrencyError` (HTTP 409) instead of being overwritten.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.envelope import Envelope, EventRegistry, Metadata, new_envelope
from shared.errors import DomainError
from shared.events import DomainEvent
from shared.eventstore.base import AppendResult, ConcurrencyError, EventStore
from shared.eventstore.postgres import PostgresEventStore
from shared.metrics.note import note_clinic
from shared.telemetry.semconv import postgres_call

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Decider(Generic[S, C]):
    """The pure rules of one kind of stream: no I/O, no clock, no registry."""

    initial: S
    decide: Callable[[S, C], Sequence[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]

    def fold(self, events: Sequence[DomainEvent], state: S | None = None) -> S:
        """The state after ``events`` (from ``initial`` unless a state is given)."""
        current = self.initial if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current


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


# A write in the append's own transaction (an idempotency record, a note); the connection is
# the store's (an asyncpg connection for PostgreSQL, None for the in-memory store).
Hook = Callable[[Any, Outcome[Any]], Awaitable[None]]


class StateCache(Generic[S]):
    """Folded states of recently used streams, by stream id, least recently used dropped.

    Streams only grow, so a state cached at version v is the true state at v in every
    instance of the service; loading reads just the events after v. Another instance's
    appends are therefore picked up, never missed."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, Loaded[S]] = OrderedDict()
        # Counted by CommandHandler.load, read by a /metrics scrape (the hit ratio).
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

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


class CommandHandler(Generic[S, C]):
    """Runs one decider against one event store on behalf of ``service``."""

    def __init__(self, store: EventStore, decider: Decider[S, C], *, service: str,
                 registry: EventRegistry, cache_size: int = 10_000) -> None:
        self.store = store
        self.decider = decider
        self.service = service
        self.registry = registry
        self.cache: StateCache[S] = StateCache(cache_size)
        self._postgres = isinstance(store, PostgresEventStore)

    def decode(self, envelopes: Sequence[Envelope]) -> list[DomainEvent]:
        """Stored envelopes as current payload models (old versions upcast)."""
        return [self.registry.decode(env) for env in envelopes]

    async def history(self, stream_id: str) -> list[DomainEvent]:
        return self.decode(await self.store.read_stream(stream_id))

    async def load(self, stream_id: str, *, counted: bool = True) -> Loaded[S]:
        """The stream's current state: the cached fold plus whatever was appended since.
        ``counted=False``: the cache lookup was counted already (by :meth:`execute`)."""
        cached = self.cache.get(stream_id)
        if counted:
            if cached is None:
                self.cache.misses += 1
            else:
                self.cache.hits += 1
        state, version = (cached.state, cached.version) if cached else (self.decider.initial, 0)
        newer = await self.store.read_stream(stream_id, from_version=version + 1)
        state = self.decider.fold(self.decode(newer), state)
        loaded = Loaded(state, version + len(newer))
        if newer:
            self.cache.put(stream_id, loaded)
        return loaded

    async def execute(
        self,
        stream_id: str,
        command: C,
        *,
        subject: str,
        clinic_id: str,
        metadata: Metadata,
        expected_version: int | None = None,
        within: Hook | None = None,
    ) -> Outcome[S]:
        """Decide on the current state and append; ``expected_version`` lets a client insist
        on the version it saw (optimistic concurrency end to end).

        With the stream's state cached, the command is decided on it and appended expecting
        its version, without reading the stream first: one round trip where nobody else wrote.
        Should another instance (or worker) have appended since, the store refuses the append
        (the expected version), and the command is decided again on the state read fresh, as
        it is when the decision on the cached state refuses or does nothing."""
        note_clinic(clinic_id)  # a label of the command metrics, where the operator allows it
        cached = self.cache.get(stream_id)
        if cached is None:
            self.cache.misses += 1
        else:
            self.cache.hits += 1
        if cached is not None and expected_version in (None, cached.version):
            try:
                outcome = await self._decide_and_append(stream_id, cached, command, subject=subject,
                                                        clinic_id=clinic_id, metadata=metadata, within=within)
            except ConcurrencyError:
                outcome = None  # the cache was behind the stream
            except DomainError:
                # A refusal on a state that may be behind the stream is decided again below,
                # on the current state, which gives the refusal (or acceptance) it deserves.
                outcome = None
            if outcome is not None and outcome.result.events:
                return outcome
        loaded = await self.load(stream_id, counted=False)
        if expected_version is not None and expected_version != loaded.version:
            raise ConcurrencyError(stream_id, expected_version, loaded.version)
        return await self._decide_and_append(stream_id, loaded, command, subject=subject, clinic_id=clinic_id,
                                             metadata=metadata, within=within)

    async def _decide_and_append(self, stream_id: str, loaded: Loaded[S], command: C, *, subject: str,
                                 clinic_id: str, metadata: Metadata, within: Hook | None) -> Outcome[S]:
        events = self.decider.decide(loaded.state, command)
        if not events:
            return Outcome(AppendResult(()), loaded.state)
        after = self.decider.fold(events, loaded.state)

        async def hook(conn: Any, result: AppendResult) -> None:
            assert within is not None
            await within(conn, Outcome(result, after))

        envelopes = [new_envelope(self.service, stream_id, e, subject=subject, clinic_id=clinic_id,
                                  metadata=metadata) for e in events]
        # The append's client span (the database side of the request's trace).
        with postgres_call("append_events") if self._postgres else contextlib.nullcontext():
            # Without a write of the caller's, the append is one statement (one round trip).
            result = await self.store.append(stream_id, loaded.version, envelopes,
                                             within=hook if within is not None else None)
        if result.duplicate:
            # Nothing new was stored: the state is whatever the stream holds now.
            return Outcome(result, (await self.load(stream_id)).state)
        self.cache.put(stream_id, Loaded(after, result.version))
        return Outcome(result, after)
