"""The coordination service behind a real HTTP server, and flag changes written through real
transactions. Not a test module (no ``test_`` prefix).

Streams need a server: httpx's ASGITransport hands back a response only once the app has
finished it, and an event stream never finishes. So uvicorn serves the app (its real
lifespan: pool, migrations, relay, projection) on a free port of the loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI

from examples.dashboard_sse import FlagStreamClient, SseEvent
from services.coordination.app import create_app
from services.coordination.streams import FlagStreamSettings
from shared.db import plain_dsn
from tests.support.services import make_settings, served, token, wait_until

ROOT = Path(__file__).resolve().parents[3]

# The table exactly as coordination's flags migration creates it; used only while that
# migration has not landed, so the tests never stand in for a migration that exists.
FLAG_CHANGES_DDL = """
CREATE TABLE flag_changes (change_id bigint GENERATED ALWAYS AS IDENTITY, flag_id text NOT NULL,
  patient_id text NOT NULL, clinic_id text NOT NULL, change text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
  flag jsonb NOT NULL, CONSTRAINT flag_changes_pkey PRIMARY KEY (change_id),
  CONSTRAINT flag_changes_change_check CHECK (change IN ('raised','acknowledged','resolved')));
CREATE INDEX flag_changes_clinic ON flag_changes (clinic_id, change_id);
"""

FAST = FlagStreamSettings(heartbeat_seconds=0.5, poll_seconds=0.05, max_seconds=300, retry_ms=100)


def flags_migration_landed() -> bool:
    return any((ROOT / "services/coordination/migrations/versions").glob("coordination_0002_*.py"))


@dataclass
class StreamService:
    url: str
    app: FastAPI
    dsn: str
    schema: str

    @property
    def pool(self) -> asyncpg.Pool:
        return self.app.state.runtime.pool  # type: ignore[no-any-return]

    async def connect(self) -> asyncpg.Connection:
        """A connection of its own, for transactions a test holds open."""
        return await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})

    def client(self, *roles: str, clinics: tuple[str, ...] = ("clinic-a",), last_event_id: str | None = None
               ) -> FlagStreamClient:
        bearer = token(*(roles or ("dashboard",)), clinics=clinics)["Authorization"].removeprefix("Bearer ")
        return FlagStreamClient(self.url, bearer, last_event_id=last_event_id, reconnect_seconds=0.1,
                                idle_timeout=10)


@contextlib.asynccontextmanager
async def stream_service(pg_url: str, kafka: str, schema: str, namespace: str,
                         stream: FlagStreamSettings = FAST) -> AsyncIterator[StreamService]:
    settings = make_settings("coordination", pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace,
                             api_docs_enabled=True)  # a test reads /openapi.json
    app = create_app(settings)
    app.state.flag_stream = stream
    async with served(app) as url:
        service = StreamService(url, app, plain_dsn(pg_url), settings.database_schema)
        exists = await service.pool.fetchval("SELECT to_regclass('flag_changes') IS NOT NULL")
        if not exists:
            assert not flags_migration_landed(), "the flags migration exists but did not create flag_changes"
            await service.pool.execute(FLAG_CHANGES_DDL)
        yield service


def flag(clinic: str, patient: str, flag_id: str, status: str) -> dict[str, Any]:
    return {"flag_id": flag_id, "rule_id": "polypharmacy", "rule_version": "1+thresholds.1", "patient_id": patient,
            "clinic_id": clinic, "severity": "warning", "status": status, "raised_at": "2026-11-02T09:30:00+00:00",
            "thresholds": {"max_concurrent": 5}, "evidence": [], "explanation": "six concurrent medications"}


STATUS = {"raised": "open", "acknowledged": "acknowledged", "resolved": "resolved"}


async def insert_change(conn: asyncpg.Connection | asyncpg.Pool, clinic: str = "clinic-a", change: str = "raised",
                        *, patient: str = "p-1", flag_id: str | None = None) -> int:
    """One flag change, the way the projection writes it; its change id."""
    fid = flag_id or str(uuid.uuid4())
    change_id = await conn.fetchval(
        "INSERT INTO flag_changes (flag_id, patient_id, clinic_id, change, flag) VALUES ($1, $2, $3, $4, $5::jsonb) "
        "RETURNING change_id", fid, patient, clinic, change, json.dumps(flag(clinic, patient, fid, STATUS[change])))
    return int(change_id)


class Collector:
    """Follows a stream in the background and keeps what arrives; stopping it disconnects."""

    def __init__(self, client: FlagStreamClient) -> None:
        self.client = client
        self.events: list[SseEvent] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with contextlib.aclosing(self.client.changes()) as changes:
            async for event in changes:
                self.events.append(event)

    async def __aenter__(self) -> Collector:
        connections = self.client.connections
        self._task = asyncio.create_task(self._run())
        # Connected, and its starting position taken, before the test writes anything.
        await wait_until(lambda: self.client.connections > connections or self._task.done())  # type: ignore[union-attr]
        if self._task.done():
            self._task.result()
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def ids(self) -> list[int]:
        return [int(e.id or 0) for e in self.events]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[int]:
        await wait_until(lambda: len(self.events) >= count, timeout=timeout)
        return self.ids
