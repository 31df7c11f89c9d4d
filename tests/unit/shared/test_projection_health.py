"""A consumer's status as /ready reports it: dead when its task ended, failing while a
failure is recent, stuck once it lasts (or one batch takes) longer than the threshold."""

from __future__ import annotations

from shared.projection.health import ConsumerHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def health() -> tuple[ConsumerHealth, Clock]:
    clock = Clock()
    h = ConsumerHealth(_clock=clock)
    h.started()
    return h, clock


def test_not_running_is_dead() -> None:
    assert ConsumerHealth().status() == "dead"
    h, _ = health()
    h.stopped()
    assert h.status() == "dead"


def test_a_failure_is_failing_then_stuck_and_a_committed_batch_ends_it() -> None:
    h, clock = health()
    assert h.status(stuck_after=30) == "ok"
    h.failed(ValueError("x"), "batch")
    clock.now += 10
    h.failed(ValueError("x"), "batch")  # a streak keeps its start
    assert h.status(stuck_after=30) == "failing" and h.last_error_type == "ValueError"
    clock.now += 25
    assert h.status(stuck_after=30) == "stuck"
    h.batch_done()
    assert h.status(stuck_after=30) == "ok" and h.last_batch_at is not None


def test_a_batch_that_never_ends_is_stuck() -> None:
    h, clock = health()
    h.batch_begins()
    clock.now += 31
    assert h.status(stuck_after=30) == "stuck"


def test_catching_up_ends_a_failure() -> None:
    h, _ = health()
    h.failed(OSError("broker away"), "start")
    h.caught_up()
    assert h.status() == "ok"
