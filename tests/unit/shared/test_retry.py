"""The retry helper waits out what it is told is transient and nothing else."""

from __future__ import annotations

import asyncio

import pytest

from shared.retry import Backoff, Stopped, retrying


async def test_transient_errors_are_retried_until_success() -> None:
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("away")
        return "done"

    assert await retrying(flaky, retry_on=(ConnectionError,), backoff=Backoff(0.001, 0.002)) == "done"
    assert len(calls) == 3


async def test_other_errors_propagate_at_once() -> None:
    calls = []

    async def broken() -> None:
        calls.append(1)
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        await retrying(broken, retry_on=lambda e: isinstance(e, ConnectionError), backoff=Backoff(0.001))
    assert len(calls) == 1


async def test_a_stop_ends_the_wait() -> None:
    stop = asyncio.Event()

    async def never() -> None:
        stop.set()
        raise ConnectionError("away")

    with pytest.raises(Stopped):
        await retrying(never, retry_on=(ConnectionError,), stop=stop, backoff=Backoff(10, 10))


def test_delays_double_up_to_the_maximum() -> None:
    policy = Backoff(initial=1, maximum=4, jitter=0)
    assert [policy.next_delay() for _ in range(5)] == [1, 2, 4, 4, 4]
    policy.reset()
    assert policy.next_delay() == 1
