"""A process supervisor for the local stack: a child that exits is started again after a
backoff, and each restart is said on the console.

The backoff doubles from ``initial`` to ``maximum`` while a child keeps failing, and starts
from ``initial`` again once it has run ``healthy_after`` seconds: a service that crashes once
a day comes back at once, one that cannot start does not spin. Standard library only, like
the rest of ``deploy/local``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Start = Callable[[], subprocess.Popen]


@dataclass
class Child:
    name: str
    start: Start
    proc: subprocess.Popen
    started_at: float
    delay: float
    restart_at: float | None = None  # set while it waits to be started again
    restarts: int = 0
    exits: list[tuple[float, int]] = field(default_factory=list)  # (when, exit code)


class Supervisor:
    def __init__(self, *, initial: float = 0.5, maximum: float = 30.0, healthy_after: float = 60.0,
                 say: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial, self.maximum, self.healthy_after = initial, maximum, healthy_after
        self.say, self.clock = say, clock
        self.children: dict[str, Child] = {}

    def add(self, name: str, start: Start) -> Child:
        child = Child(name, start, start(), self.clock(), self.initial)
        self.children[name] = child
        return child

    def running(self, name: str) -> bool:
        child = self.children[name]
        return child.restart_at is None and child.proc.poll() is None

    def poll(self) -> None:
        """Notice exits and start what is due; call it often (every few hundred ms)."""
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is None:
                code = child.proc.poll()
                if code is None:
                    continue
                if now - child.started_at >= self.healthy_after:
                    child.delay = self.initial  # it had been healthy: this is a new failure
                child.exits.append((now, code))
                child.restart_at = now + child.delay
                self.say(f"[supervisor] {child.name} exited with code {code} after {now - child.started_at:.1f} s; "
                         f"restarting in {child.delay:.1f} s")
                child.delay = min(child.delay * 2, self.maximum)
            elif now >= child.restart_at:
                child.proc = child.start()
                child.started_at, child.restart_at = now, None
                child.restarts += 1
                self.say(f"[supervisor] {child.name} restarted (pid {child.proc.pid}, restart {child.restarts})")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to every child's process group, SIGKILL to what is left after ``timeout``."""
        live = [c.proc for c in self.children.values() if c.proc.poll() is None]
        for proc in live:
            signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)
                proc.wait(5)


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """``sig`` to the child's process group (children start in a session of their own)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
