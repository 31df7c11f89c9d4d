"""The command handler's state cache: a second instance's appends are never missed, and a
cached stream is read from its cached version on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from shared.envelope import EventRegistry, Metadata
from shared.errors import Conflict
from shared.events import DomainEvent
from shared.eventstore import ConcurrencyError, InMemoryEventStore
from shared.handler import CommandHandler, Decider

T = datetime(2026, 11, 1, tzinfo=UTC)


class Counted(DomainEvent):
    event_name: ClassVar[str] = "Counted"
    by: int


@dataclass(frozen=True)
class Count:
    by: int


def decide(state: int, command: Count) -> list[DomainEvent]:
    if state + command.by > 10:
        raise Conflict("too many")
    return [Counted(by=command.by, occurred_at=T)]


def evolve(state: int, event: Any) -> int:
    return state + event.by


def handler(store: Any) -> CommandHandler[int, Count]:
    """One service instance: its own handler (and cache) on the shared store."""
    registry = EventRegistry()
    registry.register("test", Counted)
    return CommandHandler(store, Decider(0, decide, evolve), service="test", registry=registry)


class CountingStore(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.read_from: list[int] = []

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Any]:
        self.read_from.append(from_version)
        return await super().read_stream(stream_id, from_version)


async def _count(h: CommandHandler[int, Count], by: int) -> int:
    outcome = await h.execute("s-1", Count(by), subject="p", clinic_id="c", metadata=Metadata())
    return outcome.state


async def test_another_instances_appends_are_seen_and_only_new_events_are_read() -> None:
    store = CountingStore()
    a, b = handler(store), handler(store)  # two service instances, one store
    assert await _count(a, 2) == 2
    assert await _count(b, 3) == 5  # b starts cold: reads from version 1
    assert await _count(a, 4) == 9  # a's cache is at 1; it reads b's event
    assert store.read_from == [1, 1, 2]
    loaded = await a.load("s-1")
    assert (loaded.state, loaded.version) == (9, 3)
    assert store.read_from[-1] == 4
    with pytest.raises(Conflict):
        await _count(b, 5)  # b catches up to 9 before deciding, so it refuses


async def test_a_lost_race_leaves_the_cache_correct() -> None:
    store = CountingStore()
    a = handler(store)
    await _count(a, 1)
    await _count(handler(store), 1)  # someone else moves the stream to version 2
    with pytest.raises(ConcurrencyError):  # a client insisting on version 1 is refused
        await a.execute("s-1", Count(1), subject="p", clinic_id="c", metadata=Metadata(),
                        expected_version=1)
    assert await _count(a, 1) == 3


async def test_a_warm_cache_decides_and_appends_without_reading_the_stream() -> None:
    store = CountingStore()
    a = handler(store)
    assert await _count(a, 1) == 1  # cold: one read
    assert await _count(a, 1) == 2
    assert await _count(a, 1) == 3
    assert store.read_from == [1], "a command on a warm cache must not read the stream"
    assert [e.stream_version for e in await store.read_stream("s-1")] == [1, 2, 3]


async def test_a_refusal_on_a_stale_cache_is_decided_again_on_the_current_state() -> None:
    """Decided on the cached state (9) the command would be refused; another instance has
    since taken the stream down to 2, where it is accepted."""
    store = CountingStore()
    a, b = handler(store), handler(store)
    assert await _count(a, 9) == 9
    assert await _count(b, -7) == 2  # b reads 9, appends -7
    assert await _count(a, 5) == 7  # a's cache says 9 (+5 refused); the stream says 2
    assert [e.payload["by"] for e in await store.read_stream("s-1")] == [9, -7, 5]
