"""A process supervisor for the local stack: a child that exits is started again after a
backoff, and each restart is said on the console.

The backoff doubles from ``initial`` to ``maximum`` while a child keeps failing, and starts
from ``initial`` again once it has run ``healthy_after`` seconds: a service that crashes once
a day comes back at once, one that cannot start does not spin. Standard library only, like
the rest of ``deploy/local``.

With ``status_file`` it also keeps a small JSON file of what it did (per child: state, pid,
when started, restarts, the last exit's time and code), replaced whole at every change; a
service given that file (``CARECOORD_SUPERVISOR_STATUS``) shows its upstream services'
entries in ``/ready`` under ``peers`` (``shared/peers.py``), and ``make status`` prints it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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
                 say: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic,
                 status_file: Path | None = None, wall: Callable[[], float] = time.time) -> None:
        self.initial, self.maximum, self.healthy_after = initial, maximum, healthy_after
        self.say, self.clock, self.wall = say, clock, wall
        self.status_file = status_file
        self.children: dict[str, Child] = {}

    def add(self, name: str, start: Start) -> Child:
        child = Child(name, start, start(), self.clock(), self.initial)
        self.children[name] = child
        self.write_status()
        return child

    def status(self) -> dict[str, object]:
        """What the status file holds: per child its state, pid, restarts and last exit,
        times as UTC ISO 8601 (the monotonic clock's moments placed on the wall clock)."""
        now, wall = self.clock(), self.wall()

        def at(moment: float) -> str:
            return datetime.fromtimestamp(wall - (now - moment), UTC).isoformat(timespec="seconds")

        services: dict[str, object] = {}
        for child in self.children.values():
            last = child.exits[-1] if child.exits else None
            services[child.name] = {
                "state": "restarting" if child.restart_at is not None else "running",
                "pid": child.proc.pid, "started_at": at(child.started_at), "restarts": child.restarts,
                "last_exit": None if last is None else {"at": at(last[0]), "code": last[1]}}
        return {"written_at": at(now), "supervisor_pid": os.getpid(), "services": services}

    def write_status(self) -> None:
        """The status file replaced whole (a reader never sees half of it)."""
        if self.status_file is None:
            return
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        draft = self.status_file.with_name(f".{self.status_file.name}.{os.getpid()}")
        draft.write_text(json.dumps(self.status(), indent=1))
        os.replace(draft, self.status_file)

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
                self.write_status()
            elif now >= child.restart_at:
                child.proc = child.start()
                child.started_at, child.restart_at = now, None
                child.restarts += 1
                self.say(f"[supervisor] {child.name} restarted (pid {child.proc.pid}, restart {child.restarts})")
                self.write_status()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to every child's process group, SIGKILL to what is left after ``timeout``;
        the status file goes with them (nothing is supervised any more)."""
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
        if self.status_file is not None:
            self.status_file.unlink(missing_ok=True)


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """``sig`` to the child's process group (children start in a session of their own)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
