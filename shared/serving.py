"""``carecoord serve``: one service in one process, or in several worker processes on one port.

With ``--workers N`` (N > 1) this process supervises N workers, each a whole service process
(``carecoord serve <service> --port P`` with its own event loop, pool, relay and consumers)
listening on the same port with ``SO_REUSEPORT``: the kernel spreads new connections over
the workers' own accept queues (by a hash of the connection's addresses), so a keep-alive
client stays with one worker and N clients are spread evenly, which one shared accept queue
does not do under load (the worker that wakes first takes many at once).

Everything a service runs in the background already works with several instances of it,
and a worker is one more instance: the outbox relay elects one leader per database (a session
advisory lock), projections share their partitions in one consumer group, the rules tick and
chain checkpoints take turns under a lock, migrations at start serialise on an advisory lock,
and caches (folded states, verified tokens, patients' clinics) are per process and correct
across instances. What stays per worker: the rate limit's buckets and ``/metrics`` (a scrape
answers for the worker that accepted it; see docs/operations.md).

The supervisor reserves the port (a bound socket that never listens, so the port cannot be
taken between restarts and port 0 resolves once), starts the workers, passes SIGINT/SIGTERM
on to them and waits for them to stop. A worker that dies is started again (after a growing
pause when it keeps dying right after its start); one whose startup fails (uvicorn's exit code
3: a bad configuration, say) stops the whole service with that code, as a single process would.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger("carecoord.serve")

# Longer than a worker's shutdown: uvicorn's graceful 5 s plus the lifespan's 10 s for tasks.
STOP_SECONDS = 20.0
# uvicorn's exit code when the app's startup fails: the whole service stops with it.
STARTUP_FAILURE = 3
# A worker that died is started again after RESTART_DELAY; one that dies within SETTLED_SECONDS
# of its start waits twice as long as the last time, up to MAX_RESTART_DELAY.
RESTART_DELAY = 0.5
SETTLED_SECONDS = 10.0
MAX_RESTART_DELAY = 30.0


def serve(service: str, host: str, port: int, workers: int = 1, reuse_port: bool = False) -> int:
    """Run ``service`` until stopped: in this process (``workers`` 1), or supervise ``workers``
    processes sharing ``port``. ``reuse_port``: this process is one of those workers."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers == 1:
        _run_one(service, host, port, reuse_port_socket(host, port) if reuse_port else None)
        return 0
    return Supervisor(service, host, port, workers).run()


def _run_one(service: str, host: str, port: int, sock: socket.socket | None) -> None:
    import uvicorn

    module = importlib.import_module(f"services.{service}.app")
    try:
        app = module.create_app()
    except Exception:
        if sock is None:
            raise  # one process: the traceback and exit code 1, as always
        # A worker: told apart from a crash, so the supervisor stops instead of retrying.
        log.exception("the service's app could not be built")
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            # Open SSE streams would otherwise hold a graceful shutdown for their lifetime.
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    # Given a socket, uvicorn listens on it only after the app's startup, so a worker joins
    # the port's group of listeners once it can answer.
    server.run(sockets=[sock] if sock is not None else None)
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # did not start (the app's startup failed, the port was taken): as uvicorn.run


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, service: str, host: str, port: int, workers: int) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.workers = workers
        self._stopping = False

    def _command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "shared.cli", "serve", self.service, "--host", self.host,
                "--port", str(port), "--reuse-port"]

    def _start(self, slot: int, port: int) -> _Worker:
        # Same process group and standard streams: a terminal's Ctrl-C reaches the workers, and
        # their log lines go where this process's go.
        worker = _Worker(slot, subprocess.Popen(self._command(port)))
        log.info("worker %d started (pid %d)", slot, worker.proc.pid)
        return worker

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        reserved = reuse_port_socket(self.host, self.port)  # holds the port; never listens
        port = reserved.getsockname()[1]
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        running: dict[int, _Worker] = {}
        pending: dict[int, float] = {}  # slot -> when to start its worker again
        delays = dict.fromkeys(range(self.workers), RESTART_DELAY)
        code = 0
        try:
            running = {slot: self._start(slot, port) for slot in range(self.workers)}
            while not self._stopping:
                time.sleep(0.2)
                now = time.monotonic()
                for slot, at in list(pending.items()):
                    if now >= at and not self._stopping:
                        del pending[slot]
                        running[slot] = self._start(slot, port)
                for slot, worker in list(running.items()):
                    exit_code = worker.proc.poll()
                    if exit_code is None or self._stopping:
                        continue
                    del running[slot]
                    if exit_code == STARTUP_FAILURE:
                        log.error("worker %d could not start; stopping the service", slot)
                        code, self._stopping = exit_code, True
                        break
                    # One that keeps dying soon after its start is retried less and less often.
                    delays[slot] = (RESTART_DELAY if now - worker.started >= SETTLED_SECONDS
                                    else min(2 * delays[slot], MAX_RESTART_DELAY))
                    log.warning("worker %d exited (code %d); starting it again in %.0f s", slot, exit_code,
                                delays[slot])
                    pending[slot] = now + delays[slot]
        finally:
            self._shutdown(list(running.values()))
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            reserved.close()
        return code

    def _shutdown(self, workers: list[_Worker]) -> None:
        for worker in workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for worker in workers:
            try:
                worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop in time; killing it", worker.slot)
                worker.proc.kill()
                worker.proc.wait()


def worker_count(value: str) -> int:
    """argparse type of ``--workers``: a positive number, or ``auto`` for one per CPU."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"not a number of workers: {value!r}") from None
    if count < 1:
        raise ValueError("workers must be at least 1")
    return count
