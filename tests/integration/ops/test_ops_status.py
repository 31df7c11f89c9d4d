"""``carecoord status`` against services served over real HTTP (uvicorn, in-process): each
service's readiness, outbox backlog and consumer lag, the dead letters waiting in Kafka, and
an exit code that says whether everything is ready."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from shared.cli import main
from shared.kafka.clients import make_producer
from tests.integration.ops.ops_support import enroll, services
from tests.support.services import wait_until


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` (already started by its lifespan) on a free local port, over HTTP."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started, timeout=10, interval=0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_status_reports_each_service_and_the_dead_letters(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with services(("assessment", "pharmacy"), pg_url=pg_url, kafka=kafka_bootstrap, schema=schema,
                        namespace=namespace) as s, \
            served(s["assessment"].app) as assessment_url, served(s["pharmacy"].app) as pharmacy_url:
        patient = await enroll(s["assessment"].client)
        dlq = f"{s['pharmacy'].settings.topic('assessment')}.dlq"  # the directory runner created it
        producer = make_producer(kafka_bootstrap)
        await producer.start()
        try:
            for _ in range(2):
                await producer.send_and_wait(dlq, value=b"{}", key=b"k")
        finally:
            await producer.stop()

        async def status(*urls: str) -> tuple[int, dict]:  # type: ignore[type-arg]
            argv = ["status", "--namespace", namespace, "--bootstrap", kafka_bootstrap, "--json"]
            for url in urls:
                argv += ["--url", url]
            capsys.readouterr()
            code = await asyncio.to_thread(main, argv)
            return code, json.loads(capsys.readouterr().out)

        async def all_ready() -> tuple[int, dict] | None:  # type: ignore[type-arg]
            code, report = await status(f"assessment={assessment_url}", f"pharmacy={pharmacy_url}")
            return (code, report) if code == 0 and report["services"][1]["consumers"][0]["lag"] == 0 else None

        code, report = await wait_until(all_ready, timeout=60, interval=0.5)
        assessment, pharmacy = report["services"]
        assert (assessment["name"], assessment["ready"], assessment["outbox_backlog"]) == ("assessment", True, 0)
        assert assessment["outbox_oldest_age_seconds"] == 0
        assert pharmacy["ready"] and pharmacy["consumers"][0]["projection"] == "patient_directory"
        assert report["dead_letters"] == {dlq: 2}

        # One service away: reported so, and the exit code says something is not ready.
        away = f"therapy=http://127.0.0.1:{_closed_port()}"
        code = await asyncio.to_thread(main, ["status", "--namespace", namespace, "--bootstrap", kafka_bootstrap,
                                              "--url", f"assessment={assessment_url}", "--url", away])
        text = capsys.readouterr().out
        assert code == 1
        assert "therapy       unreachable" in text and "cannot be reached (ConnectionRefusedError)" in text
        assert "assessment    ready" in text and f"{dlq}" in text
        assert patient not in text
