"""One contract for the EventStore protocol, run against the in-memory store and the real
PostgreSQL store (a fresh schema per test): whatever a service sees from one it must see
from the other."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import asyncpg
import pytest

from shared.envelope import Envelope, new_envelope
from shared.events import DomainEvent
from shared.eventstore import (
    ConcurrencyError,
    EventIdReused,
    EventStore,
    InMemoryEventStore,
    PostgresEventStore,
)


class Noted(DomainEvent):
    event_name: ClassVar[str] = "Noted"

    n: int
    data: dict[str, Any] = {}


def events(stream_id: str, count: int, start: int = 1, subject: str | None = None,
           **data: Any) -> list[Envelope]:
    return [new_envelope("contract", stream_id,
                         Noted(occurred_at=datetime(2024, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=n),
                               n=n, data=data),
                         subject=subject or f"patient-{stream_id}", clinic_id="clinic-7")
            for n in range(start, start + count)]


Tamper = Callable[[str, int], Awaitable[None]]


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest) -> asyncpg.Pool | None:
    """``None`` for the in-memory store; for PostgreSQL the ``pool`` of a fresh schema
    (asked for only here, so the in-memory half runs without a database)."""
    return request.getfixturevalue("pool") if request.param == "postgres" else None


@pytest.fixture
async def store_and_tamper(backend: asyncpg.Pool | None) -> AsyncIterator[tuple[Any, Tamper]]:
    if backend is None:
        mem = InMemoryEventStore()

        async def tamper_memory(stream_id: str, version: int) -> None:
            stored = (await mem.read_stream(stream_id))[version - 1]
            mem.tamper(stream_id, version, payload={**stored.payload, "n": 999})

        yield mem, tamper_memory
        return
    pool = backend
    pg = PostgresEventStore(pool)
    await pg.migrate()

    async def tamper_postgres(stream_id: str, version: int) -> None:
        status = await pool.execute(
            "UPDATE events SET payload = jsonb_set(payload, '{n}', '999') "
            "WHERE stream_id = $1 AND stream_version = $2", stream_id, version)
        assert status == "UPDATE 1"

    yield pg, tamper_postgres


@pytest.fixture
def store(store_and_tamper: tuple[Any, Tamper]) -> EventStore:
    return store_and_tamper[0]


def ids(envs: list[Envelope] | tuple[Envelope, ...]) -> list[uuid.UUID]:
    return [e.id for e in envs]


async def test_append_assigns_versions_positions_and_recorded_at(store: EventStore) -> None:
    before = datetime.now(UTC)
    result = await store.append("s1", 0, events("s1", 3))
    after = datetime.now(UTC)

    assert not result.duplicate
    assert [e.stream_version for e in result.events] == [1, 2, 3]
    assert result.version == 3
    positions = [e.global_position for e in result.events]
    assert all(p is not None for p in positions) and positions == sorted(positions)
    assert len(set(positions)) == 3
    for e in result.events:
        assert e.recorded_at is not None
        assert before - timedelta(seconds=1) <= e.recorded_at <= after + timedelta(seconds=1)
        assert e.hash is not None and len(e.hash) == 32


async def test_read_stream_returns_what_was_appended(store: EventStore) -> None:
    sent = events("s1", 3, subject="patient-9")
    await store.append("s1", 0, sent)
    await store.append("other", 0, events("other", 2))

    got = await store.read_stream("s1")
    assert ids(got) == ids(sent)
    assert [e.stream_version for e in got] == [1, 2, 3]
    assert [e.payload["n"] for e in got] == [1, 2, 3]
    first = got[0]
    assert (first.subject, first.clinic_id, first.stream_id, first.type, first.source) == (
        "patient-9", "clinic-7", "s1", "carecoord.contract.Noted.v1", "/carecoord/contract")
    assert first.time == datetime(2024, 3, 1, 8, 1, tzinfo=UTC)
    assert first.correlation_id == str(first.id)
    assert await store.stream_version("s1") == 3
    assert await store.stream_version("nobody") == 0
    assert await store.read_stream("nobody") == []


async def test_read_stream_from_version(store: EventStore) -> None:
    await store.append("s1", 0, events("s1", 5))
    assert [e.stream_version for e in await store.read_stream("s1", from_version=4)] == [4, 5]
    assert await store.read_stream("s1", from_version=6) == []


async def test_expected_version_any_new_and_exact(store: EventStore) -> None:
    await store.append("s1", None, events("s1", 1))           # any: creates
    await store.append("s1", None, events("s1", 1, start=2))  # any: appends
    await store.append("s1", 2, events("s1", 2, start=3))     # exact
    await store.append("s2", 0, events("s2", 1))              # new stream
    assert [e.payload["n"] for e in await store.read_stream("s1")] == [1, 2, 3, 4]
    assert await store.stream_version("s2") == 1


@pytest.mark.parametrize("expected", [0, 1, 3, 7])
async def test_wrong_expected_version_raises_and_appends_nothing(store: EventStore,
                                                                 expected: int) -> None:
    await store.append("s1", 0, events("s1", 2))
    with pytest.raises(ConcurrencyError) as info:
        await store.append("s1", expected, events("s1", 1, start=3))
    assert (info.value.stream_id, info.value.expected, info.value.actual) == ("s1", expected, 2)
    assert info.value.status_code == 409
    assert [e.payload["n"] for e in await store.read_stream("s1")] == [1, 2]
    assert len(await store.read_all()) == 2


async def test_new_stream_expected_but_stream_exists(store: EventStore) -> None:
    await store.append("s1", 0, events("s1", 1))
    with pytest.raises(ConcurrencyError):
        await store.append("s1", 0, events("s1", 1, start=2))


@pytest.mark.parametrize("retry_expected", [0, None])
async def test_reappending_stored_events_is_an_idempotent_no_op(store: EventStore,
                                                                retry_expected: int | None) -> None:
    batch = events("s1", 3)
    first = await store.append("s1", 0, batch)
    total = len(await store.read_all())

    again = await store.append("s1", retry_expected, batch)

    assert again.duplicate
    assert ids(again.events) == ids(first.events)
    assert [e.stream_version for e in again.events] == [1, 2, 3]
    assert [e.global_position for e in again.events] == [e.global_position for e in first.events]
    assert [e.recorded_at for e in again.events] == [e.recorded_at for e in first.events]
    assert [e.hash for e in again.events] == [e.hash for e in first.events]
    assert await store.stream_version("s1") == 3
    assert len(await store.read_all()) == total
    assert (await store.verify("s1")).ok


async def test_a_retry_expecting_another_position_is_a_conflict(store: EventStore) -> None:
    batch = events("s1", 3)
    await store.append("s1", 0, batch)
    with pytest.raises(EventIdReused) as info:
        await store.append("s1", 3, batch)  # "after version 3": they are stored at 1–3
    assert info.value.status_code == 409 and info.value.event_id == str(batch[0].id)
    assert await store.stream_version("s1") == 3


async def test_a_partial_retry_is_refused_and_stores_nothing(store: EventStore) -> None:
    """A retry of [e1, e2, e3] whose first two are stored must not silently drop e3."""
    batch = events("s1", 3)
    await store.append("s1", 0, batch[:2])
    with pytest.raises(EventIdReused) as info:
        await store.append("s1", 0, batch)
    assert "did not" in info.value.reason
    assert [e.id for e in await store.read_stream("s1")] == ids(batch[:2])
    with pytest.raises(EventIdReused):
        await store.append("s1", 2, [batch[2], batch[1]])  # a stored id riding along
    assert await store.stream_version("s1") == 2


async def test_a_reused_id_with_other_content_or_stream_is_a_conflict(store: EventStore) -> None:
    first = events("s1", 1)[0]
    await store.append("s1", 0, [first])
    with pytest.raises(EventIdReused, match="other content"):
        await store.append("s1", 0, [replace(first, payload={**first.payload, "n": 2})])
    with pytest.raises(EventIdReused, match="another stream"):
        await store.append("s2", 0, [replace(first, stream_id="s2")])
    assert await store.stream_version("s2") == 0
    assert [e.payload["n"] for e in await store.read_stream("s1")] == [1]


async def test_one_id_twice_in_one_append_is_refused(store: EventStore) -> None:
    e = events("s1", 1)[0]
    with pytest.raises(ValueError, match="twice"):
        await store.append("s1", 0, [e, e])
    assert await store.stream_version("s1") == 0


async def test_recorded_at_follows_each_streams_order_under_concurrent_writers(store: EventStore) -> None:
    """An as-of read must never see a stream's event N+1 without N: recorded_at does not go
    backwards along a stream, however writers interleave (appends to different streams commit
    side by side, so across streams it is each append's own clock)."""

    async def writer(w: int) -> None:
        for i in range(25):
            await store.append(f"w{w}", None, events(f"w{w}", 1, start=i + 1, subject="patient-1"))

    await asyncio.gather(*(writer(w) for w in range(8)))
    stored = await store.read_all(limit=1000)
    assert len(stored) == 200
    for w in range(8):
        times = [e.recorded_at for e in await store.read_stream(f"w{w}")]
        assert all(a is not None and b is not None and a <= b for a, b in itertools.pairwise(times))
    for cutoff in sorted({e.recorded_at for e in stored if e.recorded_at is not None})[::17]:
        seen = await store.read_subject("patient-1", as_of=cutoff)
        for w in range(8):
            versions = [e.stream_version for e in seen if e.stream_id == f"w{w}"]
            assert versions == list(range(1, len(versions) + 1)), "an as-of read saw a stream with a hole"


async def test_read_all_in_global_order_after_a_position_with_limit(store: EventStore) -> None:
    appended: list[Envelope] = []
    for i in range(3):
        for stream in ("a", "b"):
            appended += (await store.append(stream, None, events(stream, 2, start=2 * i + 1))).events

    everything = await store.read_all()
    assert ids(everything) == ids(appended)
    positions = [e.global_position for e in everything]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)

    after = everything[3].global_position
    assert after is not None
    page = await store.read_all(after_position=after, limit=4)
    assert ids(page) == ids(appended[4:8])
    last = everything[-1].global_position
    assert last is not None
    assert await store.read_all(after_position=last) == []
    assert ids(await store.read_all(limit=2)) == ids(appended[:2])


async def test_read_subject_gathers_a_patients_streams(store: EventStore) -> None:
    one = await store.append("course-1", 0, events("course-1", 2, subject="patient-A"))
    await store.append("course-2", 0, events("course-2", 1, subject="patient-B"))
    two = await store.append("episode-1", 0, events("episode-1", 2, subject="patient-A"))
    got = await store.read_subject("patient-A")
    assert ids(got) == ids(one.events) + ids(two.events)
    cutoff = one.events[-1].recorded_at
    assert cutoff is not None
    as_of = await store.read_subject("patient-A", as_of=cutoff)
    assert ids(as_of) == ids(one.events)


async def test_verify_accepts_an_untouched_stream(store: EventStore) -> None:
    await store.append("s1", 0, events("s1", 3))
    await store.append("s1", 3, events("s1", 2, start=4))
    result = await store.verify("s1")
    assert result.ok and result.checked == 5 and result.first_bad_event_id is None
    empty = await store.verify("nobody")
    assert empty.ok and empty.checked == 0


async def test_verify_pinpoints_a_tampered_event(store_and_tamper: tuple[Any, Tamper]) -> None:
    store, tamper = store_and_tamper
    stored = (await store.append("s1", 0, events("s1", 5))).events
    await store.append("s2", 0, events("s2", 2))

    await tamper("s1", 3)

    result = await store.verify("s1")
    assert not result.ok
    assert result.first_bad_event_id == str(stored[2].id)
    assert result.first_bad_version == 3
    assert result.reason
    assert (await store.read_stream("s1"))[2].payload["n"] == 999  # the change is really there
    assert (await store.verify("s2")).ok


async def test_hash_chain_survives_storage_of_awkward_payloads(store: EventStore) -> None:
    """Numbers, text and times that a database may normalise must still verify: a false
    "tampered" alarm on untouched history is as bad as a missed one."""
    awkward = {"big": 1e16, "huge": 1.5e300, "tiny": 1e-7, "two": 2.0, "neg_zero": -0.0,
               "int": 2**62, "text": "Grüße \u2013 \"q\" \\ \t", "nested": {"b": [1, None, True],
                                                                         "a": {}}}
    offset = timezone(timedelta(hours=2))
    env = new_envelope("contract", "s1", Noted(occurred_at=datetime(2024, 3, 1, 10, tzinfo=offset),
                                               n=1, data=awkward),
                       subject="patient-1", clinic_id="clinic-7")
    await store.append("s1", 0, [env])
    await store.append("s1", 1, events("s1", 1, start=2))

    assert (await store.verify("s1")).ok
    got = (await store.read_stream("s1"))[0]
    data = dict(got.payload["data"])
    assert float(data.pop("huge")) == 1.5e300  # same number, whatever its spelling
    assert data == {k: v for k, v in awkward.items() if k != "huge"}
    assert got.time == datetime(2024, 3, 1, 8, tzinfo=UTC)


async def test_events_of_one_append_must_belong_to_the_stream(store: EventStore) -> None:
    with pytest.raises(ValueError):
        await store.append("s1", 0, events("s2", 1))
    with pytest.raises(ValueError):
        await store.append("s1", 0, [])
    assert await store.read_all() == []
