"""The small ones, on the real service apps built in-process (no lifespan, no infrastructure):
API docs off by default, limits before everything, /ready cached and without error names,
doses capped, NaN refused, and the local stack's secret file never readable by others."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from services.pharmacy.app import Settings as PharmacySettings
from services.pharmacy.app import create_app as create_pharmacy
from services.pharmacy.schemas import AdjustRequest, StartRequest
from tests.support import local_stack

SECRET = "security-test-secret-of-forty-bytes-0000"
ROOT = Path(__file__).resolve().parents[3]


def _client(**overrides: Any) -> httpx.AsyncClient:
    app = create_pharmacy(PharmacySettings(jwt_secret=SECRET, **overrides))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
async def test_api_docs_are_off_unless_enabled(path: str) -> None:
    async with _client() as http:
        assert (await http.get(path)).status_code == 404
    async with _client(api_docs_enabled=True) as http:
        assert (await http.get(path)).status_code == 200


async def test_a_60_mb_body_is_refused_before_the_token_is_looked_at() -> None:
    async with _client() as http:
        response = await http.post("/v1/patients/p-1/medications", content=b"x" * (60 * 1024 * 1024),
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 413


async def test_limits_are_settings() -> None:
    async with _client(max_body_bytes=100) as http:
        response = await http.post("/v1/patients/p-1/medications", content=b"x" * 101,
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 413


class _Pool:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.queries = 0

    async def fetchval(self, query: str) -> int:
        self.queries += 1
        if self.error is not None:
            raise self.error
        return 1


async def _ready(monkeypatch: pytest.MonkeyPatch, pool: _Pool, **overrides: Any) -> list[httpx.Response]:
    async def kafka_ready(_servers: str) -> bool:
        return True

    monkeypatch.setattr("shared.service.kafka_ready", kafka_ready)
    settings = PharmacySettings(jwt_secret=SECRET, **overrides)
    app = create_pharmacy(settings)
    app.state.runtime = SimpleNamespace(pool=pool, settings=settings, consumers=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        return [await http.get("/ready") for _ in range(5)]


async def test_ready_names_no_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    class SecretDriverError(Exception):
        pass

    responses = await _ready(monkeypatch, _Pool(SecretDriverError("password authentication failed")))
    assert responses[0].status_code == 503
    assert responses[0].json()["checks"]["database"] == "unavailable"
    assert "SecretDriverError" not in responses[0].text and "password" not in responses[0].text


async def test_ready_is_checked_once_per_second_however_often_it_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = _Pool()
    responses = await _ready(monkeypatch, pool)
    assert [r.status_code for r in responses] == [200] * 5
    assert pool.queries == 1
    uncached = _Pool()
    await _ready(monkeypatch, uncached, ready_cache_seconds=0)
    assert uncached.queries == 5


@pytest.mark.parametrize(("dose", "unit"), [(100_001, "mg"), (101, "g"), (1e12, "mcg"), (101, "tablet"),
                                            (1e308, "mg")])
def test_an_absurd_dose_is_refused_naming_the_dose(dose: float, unit: str) -> None:
    body = {"dose": dose, "unit": unit, "reason": "titration", "effective_at": "2026-01-01T08:00:00Z"}
    with pytest.raises(ValueError) as refused:
        AdjustRequest.model_validate(body)
    assert "dose" in str(refused.value)


def test_a_large_but_real_dose_is_accepted() -> None:
    body = {"dose": 3000, "unit": "mg", "reason": "titration", "effective_at": "2026-01-01T08:00:00Z"}
    assert AdjustRequest.model_validate(body).dose == 3000
    start = {"drug": {"code": "N06AB06", "system": "ATC", "name": "sertraline"}, "dose": 50, "unit": "mg",
             "schedule": {"times_per_day": 1}, "started_at": "2026-01-01T08:00:00Z"}
    assert StartRequest.model_validate(start).dose == 50


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_never_reach_a_route(value: str) -> None:
    body = (b'{"dose": ' + value.encode() + b', "unit": "mg", "reason": "titration", '
            b'"effective_at": "2026-01-01T08:00:00Z"}')
    async with _client() as http:
        response = await http.post("/v1/patients/p-1/medications/m-1/dose-adjustments", content=body,
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dose"]


def _stack_module() -> Any:
    return local_stack.load_stack()


def test_the_local_secret_file_is_0600_in_a_0700_folder_from_its_creation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = _stack_module()
    # With chmod disabled and a umask that hides nothing, only the modes given at creation count:
    # a file written first and chmod-ed after would show here as 0666.
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    monkeypatch.setattr(Path, "chmod", lambda *args, **kwargs: None)
    old_umask = os.umask(0)
    try:
        path = tmp_path / "run" / "secrets" / "jwt-secret"
        secret = stack._secret(path)
    finally:
        os.umask(old_umask)
    assert len(secret) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["jwt-secret"], "no draft left behind"
    assert stack._secret(path) == secret, "an existing secret is kept"


def test_an_older_wider_secret_file_is_narrowed(tmp_path: Path) -> None:
    stack = _stack_module()
    path = tmp_path / "secrets" / "jwt-secret"
    path.parent.mkdir(mode=0o755)
    path.write_text("x" * 48)
    path.chmod(0o644)
    assert stack._secret(path) == "x" * 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
