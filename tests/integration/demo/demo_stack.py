"""The four services in-process (their real lifespans, against the real PostgreSQL and Kafka),
each served over HTTP by uvicorn on a free local port, as ``carecoord demo load --url`` reaches
a deployment; and a schema and topic namespace of the suite's own, dropped afterwards. Not a
test module."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from services.assessment.app import create_app as create_assessment
from services.coordination.app import create_app as create_coordination
from services.pharmacy.app import create_app as create_pharmacy
from services.therapy.app import create_app as create_therapy
from shared.db import plain_dsn
from shared.kafka.security import client_security
from shared.settings import ServiceSettings
from tests.support.services import make_settings, running, wait_until

CREATE: dict[str, Callable[[ServiceSettings], FastAPI]] = {
    "assessment": create_assessment, "pharmacy": create_pharmacy,
    "therapy": create_therapy, "coordination": create_coordination,
}


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` (already started by its lifespan) on a free local port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started, timeout=10, interval=0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def isolated(pg_url: str, kafka: str) -> AsyncIterator[tuple[str, str]]:
    """(schema, topic namespace) of this suite's own, removed afterwards (as the conftest's
    per-test fixtures do, for a cohort the module's tests share)."""
    schema, namespace = f"t_{uuid.uuid4().hex[:12]}", f"t{uuid.uuid4().hex[:10]}."
    try:
        yield schema, namespace
    finally:
        conn = await asyncpg.connect(plain_dsn(pg_url))
        try:
            for row in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{schema}%"):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{row["nspname"]}" CASCADE')
        finally:
            await conn.close()
        admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=kafka)
        try:
            await admin.start()
            ours = [t for t in await admin.list_topics() if t.startswith(namespace)]
            if ours:
                await admin.delete_topics(ours)
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def demo_stack(pg_url: str, kafka: str, schema: str, namespace: str) -> AsyncIterator[dict[str, str]]:
    """The base URL of each service."""
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace)
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for name, create in CREATE.items():
            app, _ = await stack.enter_async_context(running(create, make_settings(name, **common)))
            urls[name] = await stack.enter_async_context(served(app))
        yield urls
