"""A supervised service killed and restarted shows in the /ready of a service that reads its
topic: assessment runs as ``make up`` runs it (``python -m shared.cli serve``, under
``deploy/local/supervise.py`` with its status file), pharmacy (whose patient directory reads
assessment's topic) in-process with ``CARECOORD_SUPERVISOR_STATUS`` pointing at that file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from services.pharmacy.app import create_app as create_pharmacy
from tests.support.services import free_port, make_settings, process_env, running, wait_until

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
from supervise import Supervisor  # noqa: E402


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=3) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


async def test_a_killed_upstream_service_s_restart_appears_in_the_ready_of_its_reader(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str, tmp_path: Path) -> None:
    status_file = tmp_path / "supervise" / "status.json"
    port = free_port()
    env = process_env("assessment", pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    log = tempfile.TemporaryFile()

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", "assessment", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    supervisor = Supervisor(say=lambda _: None, status_file=status_file)
    child = supervisor.add("assessment", start)
    settings = make_settings("pharmacy", pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace,
                             supervisor_status=str(status_file))
    try:
        async with running(create_pharmacy, settings) as (_, client):
            async def peers() -> dict:
                body = (await client.get("/ready")).json()
                return dict(body["peers"]["services"])

            await wait_until(lambda: asyncio.to_thread(_ready, port), timeout=120, interval=0.5)
            before = await peers()
            assert set(before) == {"assessment"}  # the one service whose topic pharmacy reads
            assert before["assessment"]["restarts"] == 0 and before["assessment"]["last_exit"] is None
            assert before["assessment"]["pid"] == child.proc.pid

            killed = child.proc.pid
            os.killpg(killed, signal.SIGKILL)

            def restarted() -> bool:
                supervisor.poll()
                return child.restarts == 1

            await wait_until(restarted, timeout=30, interval=0.2)
            after = await wait_until(
                lambda: _restart_seen(client), timeout=10, interval=0.3)  # /ready answers from a 1 s cache
            assert after["pid"] == child.proc.pid != killed
            assert after["last_exit"]["code"] == -signal.SIGKILL
            assert after["state"] == "running"
            await wait_until(lambda: asyncio.to_thread(_ready, port), timeout=120, interval=0.5)
            assert (await client.get("/ready")).status_code == 200  # a peer's restart is no reason to be unready
    finally:
        supervisor.stop(timeout=20)
        log.close()
    assert not status_file.exists()


async def _restart_seen(client: object) -> dict | None:
    body = (await client.get("/ready")).json()  # type: ignore[attr-defined]
    entry: dict = body["peers"]["services"]["assessment"]
    return entry if entry["restarts"] == 1 else None
