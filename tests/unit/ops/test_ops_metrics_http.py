"""Request and command metrics of one app, without infrastructure: what an operator reads
on /metrics after a few requests, parsed with prometheus-client's own parser."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from shared.errors import Conflict, NotFound, RuleViolation
from shared.eventstore.base import ConcurrencyError
from shared.metrics.app import install_metrics
from shared.metrics.note import note_clinic, note_refusal
from shared.service import _install_error_handlers

PATIENT = "p-4711-secret"


class Dose(BaseModel):
    dose: int


def _app(clinics: tuple[str, ...] = ()) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/v1/patients/{patient_id}")

    @router.post("/doses", status_code=201)
    async def adjust(patient_id: str, body: Dose) -> dict[str, Any]:
        note_clinic("clinic-a" if body.dose < 500 else "clinic-z")
        if body.dose == 0:
            raise RuleViolation("a dose must be positive", field="dose")
        if body.dose == 1:
            raise ConcurrencyError("s", 1, 2)
        if body.dose == 2:
            raise NotFound("no such course")
        if body.dose == 3:
            note_refusal("erased")
            raise Conflict("erased")
        if body.dose == 4:
            raise HTTPException(403, "not a member of this clinic")
        return {"ok": True}

    @router.get("/timeline")
    async def timeline(patient_id: str) -> dict[str, str]:
        return {}

    app.include_router(router)
    _install_error_handlers(app)
    install_metrics(app, "pharmacy", clinics=clinics)
    return app


def _families(client: TestClient) -> dict[str, Any]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def _samples(family: Any, suffix: str = "") -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == family.name + suffix}


def test_requests_are_counted_by_route_template_and_commands_by_outcome() -> None:
    client = TestClient(_app())
    base = f"/v1/patients/{PATIENT}"
    for dose in (50, 50, 0, 1, 2, 3, 4):
        client.post(f"{base}/doses", json={"dose": dose})
    client.post(f"{base}/doses", json={"dose": "lots"})
    client.get(f"{base}/timeline")
    client.get(f"/v1/patients/{PATIENT}/nowhere")
    families = _families(client)

    requests = _samples(families["carecoord_http_requests"], "_total")
    route = "/v1/patients/{patient_id}/doses"
    assert requests[(("method", "POST"), ("route", route), ("status", "201"))] == 2
    assert requests[(("method", "POST"), ("route", route), ("status", "422"))] == 2
    assert requests[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    latency = _samples(families["carecoord_http_request_duration_seconds"], "_count")
    assert latency[(("method", "GET"), ("route", "/v1/patients/{patient_id}/timeline"), ("status", "200"))] == 1

    commands = {(labels["outcome"], labels["reason"]): value for labels, value in
                ((dict(k), v) for k, v in _samples(families["carecoord_commands"], "_total").items())}
    assert commands == {("accepted", "none"): 2, ("refused", "rule_violation"): 1,
                        ("conflict", "version_conflict"): 1, ("refused", "not_found"): 1,
                        ("refused", "erased"): 1, ("refused", "forbidden"): 1, ("refused", "validation"): 1}
    assert {s.labels["command"] for s in families["carecoord_commands"].samples} == {"adjust"}
    assert "clinic" not in families["carecoord_commands"].samples[0].labels  # off by default


def test_no_patient_id_reaches_the_metrics() -> None:
    client = TestClient(_app())
    client.post(f"/v1/patients/{PATIENT}/doses", json={"dose": 50})
    client.get(f"/v1/patients/{PATIENT}/timeline?name=Jane")
    text = client.get("/metrics").text
    assert PATIENT not in text and "Jane" not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert not any(PATIENT in value for value in sample.labels.values())


def test_clinic_label_holds_listed_clinics_only() -> None:
    client = TestClient(_app(clinics=("clinic-a",)))
    client.post(f"/v1/patients/{PATIENT}/doses", json={"dose": 50})
    client.post(f"/v1/patients/{PATIENT}/doses", json={"dose": 600})
    commands = _families(client)["carecoord_commands"]
    assert {s.labels["clinic"]: s.value for s in commands.samples} == {"clinic-a": 1, "other": 1}


def test_each_app_has_its_own_registry() -> None:
    first, second = _app(), _app()
    TestClient(first).post(f"/v1/patients/{PATIENT}/doses", json={"dose": 50})
    text = generate_latest(second.state.metrics.registry).decode()
    assert 'outcome="accepted"' not in text
    assert "carecoord_build_info" in text
