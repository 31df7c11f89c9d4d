"""One backoff policy for every loop that waits out an outage (broker starting, database
away, a dead letter that cannot be sent yet), instead of a hand-written loop in each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Exponential delays with jitter: ``initial``, doubling up to ``maximum``.

    Jitter spreads instances that failed together (a broker restart) so they do not all
    come back in the same millisecond."""

    initial: float = 0.1
    maximum: float = 5.0
    jitter: float = 0.1
    _next: float = 0.0

    def __post_init__(self) -> None:
        self._next = self.initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * (1 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self._next = self.initial


async def sleep_or_stop(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when told to stop."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


class Stopped(Exception):
    """``retrying`` was told to stop before the operation succeeded."""


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool],
    stop: asyncio.Event | None = None,
    backoff: Backoff | None = None,
    what: str = "operation",
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run ``operation`` until it succeeds, waiting out the errors ``retry_on`` accepts
    (a tuple of types or a predicate); others propagate. Raises :class:`Stopped` when
    ``stop`` is set while waiting."""
    policy = backoff or Backoff()
    accept = retry_on if callable(retry_on) and not isinstance(retry_on, tuple) else None
    while True:
        try:
            return await operation()
        except Exception as exc:
            transient = accept(exc) if accept is not None else isinstance(exc, retry_on)  # type: ignore[arg-type]
            if not transient:
                raise
            if on_retry is not None:
                on_retry(exc)
            log.warning("%s failed; retrying", what, extra={"error_type": type(exc).__name__})
            if await sleep_or_stop(stop, policy.next_delay()):
                raise Stopped(what) from exc
