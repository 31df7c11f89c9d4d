"""Event store: append-only streams with optimistic concurrency, a gap-safe global order
and a hash chain per stream. ``EventStore`` is the protocol; ``PostgresEventStore`` the
real one and ``InMemoryEventStore`` the one for pure unit tests; one contract suite tests
both (tests/contract)."""

from shared.eventstore.base import (
    AppendResult,
    ConcurrencyError,
    EventIdReused,
    EventStore,
    VerifyResult,
)
from shared.eventstore.memory import InMemoryEventStore
from shared.eventstore.postgres import PostgresEventStore

__all__ = [
    "AppendResult",
    "ConcurrencyError",
    "EventIdReused",
    "EventStore",
    "InMemoryEventStore",
    "PostgresEventStore",
    "VerifyResult",
]
