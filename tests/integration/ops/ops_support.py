"""Shared pieces of the operations tests: the four services in-process, a scrape of their
``/metrics`` parsed by prometheus-client's own parser. Not a test module."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from services.assessment.app import create_app as create_assessment
from services.coordination.app import create_app as create_coordination
from services.pharmacy.app import create_app as create_pharmacy
from services.therapy.app import create_app as create_therapy
from shared.settings import ServiceSettings
from tests.support.services import make_settings, running, token

CREATE: dict[str, Callable[[ServiceSettings], FastAPI]] = {
    "assessment": create_assessment, "pharmacy": create_pharmacy,
    "therapy": create_therapy, "coordination": create_coordination,
}
COORDINATOR = token("coordinator", "assessor", "prescriber", "therapist", clinics=("clinic-a",))
PRESCRIBER = token("prescriber")


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    settings: ServiceSettings


@contextlib.asynccontextmanager
async def services(names: tuple[str, ...], *, pg_url: str, kafka: str, schema: str, namespace: str,
                   **overrides: Any) -> AsyncIterator[dict[str, Service]]:
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace)
    async with contextlib.AsyncExitStack() as stack:
        started: dict[str, Service] = {}
        for name in names:
            settings = make_settings(name, **common, **overrides)
            app, client = await stack.enter_async_context(running(CREATE[name], settings))
            started[name] = Service(app, client, settings)
        yield started


Families = dict[str, list[Sample]]


async def scrape(client: httpx.AsyncClient) -> Families:
    """Every family of one scrape, by family name, with its samples."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: list(family.samples) for family in text_string_to_metric_families(response.text)}


def value(families: Families, name: str, **labels: str) -> float | None:
    """The one sample of ``name`` whose labels include ``labels`` (None if there is none)."""
    found = [s.value for s in _samples(families, name) if labels.items() <= s.labels.items()]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def total(families: Families, name: str, **labels: str) -> float:
    return sum(s.value for s in _samples(families, name) if labels.items() <= s.labels.items())


def _samples(families: Families, name: str) -> list[Sample]:
    """Samples named ``name`` (``x_total`` of counter x, ``x_count`` of histogram x, ...)."""
    return [s for samples in families.values() for s in samples if s.name == name]


async def enroll(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/patients", headers=token("coordinator"), json={
        "clinic_id": "clinic-a", "display_name": "Erika Mustermann", "birth_date": "1981-05-17"})
    assert response.status_code == 201, response.text
    return str(response.json()["patient_id"])


async def assess(client: httpx.AsyncClient, patient_id: str, score: int = 1) -> None:
    response = await client.post(f"/v1/patients/{patient_id}/assessments", headers=COORDINATOR, json={
        "instrument": "PHQ-9", "item_scores": [score] + [0] * 8, "administered_at": "2026-11-02T09:00:00Z"})
    assert response.status_code == 201, response.text
