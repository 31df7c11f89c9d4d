"""The local stack's supervisor: an exited child is started again after a backoff that doubles
to its cap, and starts over once the child has been healthy long enough."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
from supervise import Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def exiting(code: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"], start_new_session=True)
    proc.wait()
    return proc


def test_an_exited_child_is_restarted_with_a_doubling_capped_backoff_reset_after_health() -> None:
    clock, said = Clock(), []
    sup = Supervisor(initial=0.5, maximum=2.0, healthy_after=60.0, say=said.append, clock=clock)
    child = sup.add("svc", lambda: exiting(3))
    delays = []
    for _ in range(5):
        sup.poll()  # notices the exit
        assert child.restart_at is not None and not sup.running("svc")
        delays.append(child.restart_at - clock.now)
        clock.now = child.restart_at - 0.01
        sup.poll()
        assert child.restart_at is not None, "restarted before its delay"
        clock.now = child.restart_at
        sup.poll()  # starts it again
        assert child.restart_at is None
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert child.restarts == 5 and [code for _, code in child.exits] == [3] * 5
    assert any("svc exited with code 3" in line for line in said)
    assert any("svc restarted" in line for line in said)

    clock.now += 61  # it ran a minute: the next exit is a new failure, the backoff starts over
    sup.poll()
    assert child.restart_at is not None and child.restart_at - clock.now == 0.5


def test_a_running_child_is_left_alone_and_stopped_on_request() -> None:
    sup = Supervisor(say=lambda _: None)
    child = sup.add("sleeper", lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                                        start_new_session=True))
    sup.poll()
    assert sup.running("sleeper") and child.restarts == 0
    sup.stop(timeout=5)
    assert child.proc.poll() is not None
