"""Two overlapping requests with one Idempotency-Key: the client asked once, so both get the
first answer and one event is stored — never a 409 or a 422 from the echo of its own retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from tests.support.services import make_settings, running, token

PRESCRIBER = token("prescriber")
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}


@pytest.fixture
async def clients(pg_url: str, kafka_bootstrap: str, schema: str,
                  namespace: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    async with running(create_assessment, make_settings("assessment", **common)) as (_, assessment), \
            running(create_pharmacy, make_settings("pharmacy", **common)) as (_, pharmacy):
        yield assessment, pharmacy


async def test_overlapping_retries_with_one_key_both_get_the_first_answer(
        clients: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    assessment, pharmacy = clients
    enrolled = await assessment.post("/v1/patients", headers=token("coordinator"), json={
        "clinic_id": "clinic-a", "display_name": "Test Patient", "birth_date": "1985-03-01"})
    pid = enrolled.json()["patient_id"]
    base = f"/v1/patients/{pid}/medications"
    started = await pharmacy.post(base, headers=PRESCRIBER, json={
        "drug": SERTRALINE, "dose": 50, "unit": "mg", "schedule": {"times_per_day": 1},
        "started_at": "2026-11-01T08:00:00Z"})
    assert started.status_code == 201, started.text
    mid = started.json()["medication_id"]
    for round_ in range(8):
        dose = 100 if round_ % 2 == 0 else 50
        headers = {**PRESCRIBER, "Idempotency-Key": f"adjust-{round_}"}
        body = {"dose": dose, "unit": "mg", "reason": "insufficient_response",
                "effective_at": f"2026-11-{2 + round_:02d}T08:00:00Z"}
        first, second = await asyncio.gather(
            pharmacy.post(f"{base}/{mid}/dose-adjustments", headers=headers, json=body),
            pharmacy.post(f"{base}/{mid}/dose-adjustments", headers=headers, json=body))
        assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
        assert first.json() == second.json()
    course = await pharmacy.get(f"{base}/{mid}", headers=PRESCRIBER)
    assert [h["event_type"] for h in course.json()["history"]].count("DoseAdjusted") == 8
