"""Requests the therapy tests make again and again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from shared.settings import ServiceSettings
from tests.support.services import token

THERAPIST = token("therapist", sub="therapist-4")
COORD = token("coordinator")


@dataclass
class Stack:
    """Running services by name: their HTTP clients, apps (for the store) and settings."""

    client: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    app: dict[str, FastAPI] = field(default_factory=dict)
    settings: dict[str, ServiceSettings] = field(default_factory=dict)


async def enroll(assessment: httpx.AsyncClient, clinic: str = "clinic-a") -> str:
    """A new patient of ``clinic``, through assessment (the directory learns it from the topic)."""
    resp = await assessment.post("/v1/patients", headers=token("coordinator", clinics=(clinic,)), json={
        "clinic_id": clinic, "display_name": "Test Patient", "birth_date": "1985-03-01"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["patient_id"])


def episode_body(**over: Any) -> dict[str, Any]:
    return {"modality": "cbt", "care_step": 2, "started_at": "2026-11-02T09:00:00+01:00", "setting": "individual",
            **over}


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None,
               headers: dict[str, str] = THERAPIST, status: int = 201) -> dict[str, Any]:
    """POST and insist on ``status``; the answer's JSON."""
    resp = await client.post(path, json=body, headers=headers)
    assert resp.status_code == status, resp.text
    answer: dict[str, Any] = resp.json()
    return answer
