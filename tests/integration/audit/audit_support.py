"""The auditors' integration tests' stack: assessment and pharmacy served over real HTTP (so
coordination's merged access log can ask them), therapy named at a port nothing listens on (a
service that is down), coordination in-process. Not a test module."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from services.assessment.app import create_app as create_assessment
from services.coordination.app import create_app as create_coordination
from services.coordination.settings import CoordinationSettings
from services.pharmacy.app import create_app as create_pharmacy
from shared.settings import ServiceSettings
from tests.support.services import make_settings, running, served, token, wait_until

CLINICIAN = token("coordinator", "assessor", "prescriber", "therapist", clinics=("clinic-a",), sub="clin-1")
AUDITOR_A = token("auditor", clinics=("clinic-a",), sub="audit-a")
AUDITOR_B = token("auditor", clinics=("clinic-b",), sub="audit-b")


def rx(name: str, code: str) -> dict[str, str]:
    return {"code": code, "system": "RxNorm", "name": name}


DRUGS = [rx("sertraline", "36437"), rx("ibuprofen", "5640"), rx("paracetamol", "161"), rx("pregabalin", "187832"),
         rx("quetiapine", "51272")]


def dead_url() -> str:
    """An address on this machine where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class AuditStack:
    assessment: httpx.AsyncClient
    pharmacy: httpx.AsyncClient
    coordination: httpx.AsyncClient
    apps: dict[str, FastAPI]
    settings: ServiceSettings
    kafka: str

    @property
    def pool(self) -> asyncpg.Pool:
        return self.apps["coordination"].state.runtime.pool  # type: ignore[no-any-return]

    def pool_of(self, service: str) -> asyncpg.Pool:
        return self.apps[service].state.runtime.pool  # type: ignore[no-any-return]

    async def enroll(self, clinic: str = "clinic-a") -> str:
        resp = await self.assessment.post("/v1/patients", headers=token("coordinator", clinics=(clinic,)), json={
            "clinic_id": clinic, "display_name": "Erika Mustermann", "birth_date": "1981-05-17"})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["patient_id"])

    async def start(self, patient_id: str, drug: dict[str, str], at: datetime) -> dict[str, Any]:
        resp = await self.pharmacy.post(f"/v1/patients/{patient_id}/medications", headers=CLINICIAN, json={
            "drug": drug, "dose": 10, "unit": "mg", "schedule": {"times_per_day": 1}, "started_at": at.isoformat()})
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    async def score(self, patient_id: str, at: datetime, items: list[int]) -> None:
        resp = await self.assessment.post(f"/v1/patients/{patient_id}/assessments", headers=CLINICIAN, json={
            "instrument": "PHQ-9", "item_scores": items, "administered_at": at.isoformat()})
        assert resp.status_code == 201, resp.text

    async def entries(self, patient_id: str) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM timeline_entries WHERE patient_id = $1",
                                            patient_id))

    async def projected(self, patient_id: str, count: int, timeout: float = 30) -> None:
        async def enough() -> bool:
            return await self.entries(patient_id) >= count
        await wait_until(enough, timeout=timeout)


def days_ago(n: float) -> datetime:
    return (datetime.now(UTC) - timedelta(days=n)).replace(microsecond=0)


@contextlib.asynccontextmanager
async def audit_stack(pg_url: str, kafka: str, schema: str, namespace: str) -> AsyncIterator[AuditStack]:
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace)
    async with contextlib.AsyncExitStack() as stack:
        apps: dict[str, FastAPI] = {}
        urls: dict[str, str] = {}
        for name, create in (("assessment", create_assessment), ("pharmacy", create_pharmacy)):
            apps[name] = create(make_settings(name, **common))
            urls[name] = await stack.enter_async_context(served(apps[name]))
        urls["therapy"] = dead_url()
        settings = CoordinationSettings(**{**make_settings("coordination", **common).model_dump(),
                                           "audit_peer_urls": {k: v for k, v in urls.items()},
                                           "audit_peer_timeout_seconds": 3.0})
        app, coordination = await stack.enter_async_context(running(create_coordination, settings))
        apps["coordination"] = app
        assessment = await stack.enter_async_context(httpx.AsyncClient(base_url=urls["assessment"], timeout=30))
        pharmacy = await stack.enter_async_context(httpx.AsyncClient(base_url=urls["pharmacy"], timeout=30))
        yield AuditStack(assessment, pharmacy, coordination, apps, settings, kafka)
