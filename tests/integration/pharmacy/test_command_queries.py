"""What a command asks the database before its append: one directory read (the patient's
clinic and erasure mark together), and the course's owner only the first time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from tests.support.services import make_settings, running, token, wait_until

PRESCRIBER = token("prescriber")


class RecordingPool:
    """A pool that remembers the statements the route code sends through it."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self.pool.fetchval(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self.pool.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self.pool.fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self.pool.execute(query, *args)


@pytest.fixture
async def services(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str
                   ) -> AsyncIterator[tuple[Any, httpx.AsyncClient, httpx.AsyncClient]]:
    common = dict(pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    async with running(create_assessment, make_settings("assessment", **common)) as (_, assessment), \
            running(create_pharmacy, make_settings("pharmacy", **common)) as (app, pharmacy):
        yield app, assessment, pharmacy


async def test_a_command_reads_the_directory_once_and_a_courses_owner_once(
        services: tuple[Any, httpx.AsyncClient, httpx.AsyncClient]) -> None:
    app, assessment, pharmacy = services
    enrolled = await assessment.post("/v1/patients", headers=token("coordinator"), json={
        "clinic_id": "clinic-a", "display_name": "Test Patient", "birth_date": "1985-03-01"})
    patient = enrolled.json()["patient_id"]

    async def known() -> bool:
        return (await pharmacy.get(f"/v1/patients/{patient}/medications", headers=PRESCRIBER)).status_code == 200

    await wait_until(known, timeout=30)
    started = await pharmacy.post(f"/v1/patients/{patient}/medications", headers=PRESCRIBER, json={
        "drug": {"code": "36437", "system": "RxNorm"}, "dose": 50, "unit": "mg", "schedule": {"times_per_day": 1},
        "started_at": "2026-11-01T08:00:00Z"})
    assert started.status_code == 201, started.text
    course = started.json()["medication_id"]

    ctx = app.state.context
    recording = RecordingPool(ctx.runtime.pool)
    ctx.runtime.pool = ctx.directory.pool = recording
    try:
        for step, dose in enumerate((100, 50, 100)):
            recording.sent.clear()
            adjusted = await pharmacy.post(
                f"/v1/patients/{patient}/medications/{course}/dose-adjustments", headers=PRESCRIBER,
                json={"dose": dose, "unit": "mg", "reason": "titration",
                      "effective_at": f"2026-11-0{2 + step}T08:00:00Z"})
            assert adjusted.status_code == 201, adjusted.text
            directory = [q for q in recording.sent if "patient_directory" in q]
            owner = [q for q in recording.sent if "stream_version = 1" in q]
            assert len(directory) == 1 and "identity_erased" in directory[0], recording.sent
            assert len(owner) == (1 if step == 0 else 0), recording.sent
    finally:
        ctx.runtime.pool = ctx.directory.pool = recording.pool
