"""Run a service app in-process (its real lifespan: pool, migrations, relay, consumers)
against the real PostgreSQL and Kafka, and talk to it over HTTP with httpx."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from fastapi import FastAPI

from shared.auth import issue_token
from shared.kafka.security import client_security
from shared.settings import ServiceSettings, settings_for

TEST_SECRET = "carecoord-test-secret-0123456789abcdef"


def make_settings(service: str, *, pg_url: str, kafka: str, schema: str, namespace: str,
                  **overrides: Any) -> ServiceSettings:
    options: dict[str, Any] = dict(
        database_url=pg_url, database_schema=f"{schema}_{service}", kafka_bootstrap_servers=kafka,
        topic_namespace=namespace, jwt_secret=TEST_SECRET, relay_idle_seconds=0.02,
        topic_partitions=3)
    options.update(overrides)
    return settings_for(service)(**options)


def process_env(service: str, *, pg_url: str, kafka: str, schema: str, namespace: str) -> dict[str, str]:
    """The environment of ``carecoord serve <service>`` in a process of its own, with the
    settings :func:`make_settings` gives an in-process app (this test's schema and topics)."""
    prefix = f"CARECOORD_{service.upper()}_"
    return {**os.environ, f"{prefix}DATABASE_URL": pg_url, f"{prefix}DATABASE_SCHEMA": f"{schema}_{service}",
            "CARECOORD_KAFKA_BOOTSTRAP_SERVERS": kafka, "CARECOORD_TOPIC_NAMESPACE": namespace,
            "CARECOORD_JWT_SECRET": TEST_SECRET, "CARECOORD_TOPIC_PARTITIONS": "3"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def token(*roles: str, clinics: tuple[str, ...] = ("clinic-a",), sub: str = "staff-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(TEST_SECRET, sub=sub, roles=list(roles), clinics=list(clinics))}"}


@contextlib.asynccontextmanager
async def running(create_app: Callable[[ServiceSettings], FastAPI],
                  settings: ServiceSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def read_topic(bootstrap: str, topic: str, *, at_least: int, timeout: float = 20.0,
                     settle: float = 0.5) -> list[ConsumerRecord]:
    """Every record on ``topic`` from the beginning, once at least ``at_least`` arrived
    (then ``settle`` seconds more, so extra records would be seen too)."""
    consumer = AIOKafkaConsumer(topic, **client_security(), bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        settle_until: float | None = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if len(records) >= at_least:
                settle_until = settle_until or loop.time() + settle
                if loop.time() >= settle_until:
                    break
    finally:
        await consumer.stop()
    return records


async def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` with its lifespan, behind uvicorn on a free port of the loopback: for clients
    that need a real socket (an endless SSE stream, a browser, one service calling another)."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), timeout=90)
    if not server.started:
        task.result()
        raise RuntimeError("the server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
