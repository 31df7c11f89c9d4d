"""``carecoord serve <service> --workers 2``: two processes listen on one port and both answer.

The service runs as ``make up`` runs it (``python -m shared.cli serve``), against the real
PostgreSQL and Kafka, in a schema and topic namespace of the test's own. Which process holds
which socket is read from /proc (Linux), so the test sees the workers themselves rather than
trusting an answer to name its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.services import free_port, process_env, token

ROOT = Path(__file__).resolve().parents[3]
CONNECTIONS = 24  # spread by a hash of their addresses: all on one of two workers has odds 2 / 2**24

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc (Linux)")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _sockets(port: int) -> dict[int, str]:
    """inode -> state ('0A' listening, '01' established) of the TCP sockets on local ``port``."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            found[int(fields[9])] = fields[3]
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _held(pids: list[int], port: int, state: str) -> dict[int, int]:
    """How many sockets of ``state`` on ``port`` each process holds."""
    on_port = {inode for inode, s in _sockets(port).items() if s == state}
    return {pid: len(_socket_inodes(pid) & on_port) for pid in pids}


@contextlib.contextmanager
def _serving(pg_url: str, kafka: str, schema: str, namespace: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = process_env("pharmacy", pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", "pharmacy", "--port", str(port),
                             "--workers", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the supervisor stops its workers
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.returncode not in (0, -signal.SIGTERM):
            log.seek(0)
            print(log.read().decode(errors="replace")[-4000:])
        log.close()


async def _until(check: object, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.2)


async def test_two_workers_share_the_port_and_both_answer(pg_url: str, kafka_bootstrap: str, schema: str,
                                                          namespace: str) -> None:
    port = free_port()
    with _serving(pg_url, kafka_bootstrap, schema, namespace, port) as supervisor:
        workers = await _until(lambda: (c if len(c := _children(supervisor.pid)) == 2 else None), 30,
                               "two worker processes")
        assert isinstance(workers, list)
        # Both listen on the port once their startup (migrations, pool, consumers) is done.
        await _until(lambda: all(n == 1 for n in _held(workers, port, "0A").values()), 90,
                     f"both workers listening on {port}")
        assert _held([supervisor.pid], port, "0A") == {supervisor.pid: 0}  # it only reserves the port

        clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=token("prescriber"))
                   for _ in range(CONNECTIONS)]
        try:
            answers = await asyncio.gather(*(c.get("/health") for c in clients))
            assert [a.status_code for a in answers] == [200] * CONNECTIONS
            # Every client's keep-alive connection is held by one worker or the other: both serve.
            held = _held(workers, port, "01")
            assert sum(held.values()) == CONNECTIONS, held
            assert all(n > 0 for n in held.values()), held
            # An authenticated read through each connection: the workers' directories and pools work.
            unknown = await asyncio.gather(*(c.get("/v1/patients/nobody/medications") for c in clients))
            assert {a.status_code for a in unknown} == {404}
        finally:
            for c in clients:
                await c.aclose()

        # A worker that dies is replaced; the service keeps its port meanwhile.
        os.kill(workers[0], signal.SIGKILL)
        replaced = await _until(lambda: (c if len(c := _children(supervisor.pid)) == 2 and workers[0] not in c
                                         else None), 30, "a new worker")
        assert isinstance(replaced, list)
        await _until(lambda: all(n == 1 for n in _held(replaced, port, "0A").values()), 90,
                     "the new worker listening")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/health")).status_code == 200

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0
        assert not any(_alive(pid) for pid in replaced)  # stopped with it
