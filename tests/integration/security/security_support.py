"""The four services in-process with two clinics' patients in them, and what a prober needs:
tokens good and bad, every route of every service's OpenAPI, and a valid body for each.
Not a test module (no ``test_`` prefix)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from services.assessment.app import create_app as create_assessment
from services.coordination.app import create_app as create_coordination
from services.pharmacy.app import create_app as create_pharmacy
from services.therapy.app import create_app as create_therapy
from shared.auth import Role, issue_token
from tests.support.services import TEST_SECRET, make_settings, running, token, wait_until

CREATORS = {"assessment": create_assessment, "pharmacy": create_pharmacy, "therapy": create_therapy,
            "coordination": create_coordination}
ALL_ROLES = tuple(role.value for role in Role)
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}


@dataclass
class Service:
    name: str
    app: FastAPI
    http: httpx.AsyncClient


@dataclass
class Seeded:
    """Clinic A's patient (the caller's own) and clinic B's patient with B's aggregates."""

    own_patient: str
    other_patient: str
    other_ids: dict[str, str] = field(default_factory=dict)  # path parameter → clinic B's id


@contextlib.asynccontextmanager
async def four_services(pg_url: str, kafka: str, schema: str, namespace: str,
                        **overrides: Any) -> AsyncIterator[dict[str, Service]]:
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace,
                                  api_docs_enabled=True, **overrides)
    services: dict[str, Service] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name, create in CREATORS.items():
            app, http = await stack.enter_async_context(running(create, make_settings(name, **common)))
            services[name] = Service(name, app, http)
        yield services


def bearer(*roles: str, clinics: tuple[str, ...] = ("clinic-a",), sub: str = "prober") -> dict[str, str]:
    return token(*roles, clinics=clinics, sub=sub)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_tokens() -> dict[str, dict[str, str]]:
    """Every way to fail authentication; each must be a 401 on every route."""
    now = datetime.now(UTC)
    claims = {"sub": "prober", "roles": list(ALL_ROLES), "clinics": ["clinic-a", "clinic-b"], "iss": "carecoord",
              "aud": "carecoord", "iat": int(now.timestamp()), "exp": int((now + timedelta(hours=1)).timestamp())}
    expired = issue_token(TEST_SECRET, sub="prober", roles=list(ALL_ROLES), clinics=["clinic-a", "clinic-b"],
                          now=now - timedelta(hours=3))
    wrong_signature = jwt.encode(claims, "another-secret-that-is-long-enough-000000", algorithm="HS256")
    unsigned = ".".join(_b64(json.dumps(part).encode()) for part in ({"alg": "none", "typ": "JWT"}, claims)) + "."
    return {"no token": {}, "expired": {"Authorization": f"Bearer {expired}"},
            "wrong signature": {"Authorization": f"Bearer {wrong_signature}"},
            "alg none": {"Authorization": f"Bearer {unsigned}"}}


async def seed(services: dict[str, Service]) -> Seeded:
    """Patient A in clinic-a; patient B in clinic-b with a course, an episode with a session and a
    flag; both known to every service's directory."""
    assessment, pharmacy, therapy = (services[n].http for n in ("assessment", "pharmacy", "therapy"))
    b_staff = bearer(*ALL_ROLES, clinics=("clinic-b",), sub="staff-b")
    patients = []
    for clinic in ("clinic-a", "clinic-b"):
        resp = await assessment.post("/v1/patients", headers=bearer("coordinator", clinics=(clinic,)), json={
            "clinic_id": clinic, "display_name": "Probe Patient", "birth_date": "1980-01-01"})
        assert resp.status_code == 201, resp.text
        patients.append(resp.json()["patient_id"])
    own, other = patients
    for name in ("pharmacy", "therapy", "coordination"):
        pool = services[name].app.state.runtime.pool
        await wait_until(lambda pool=pool: pool.fetchval(
            "SELECT count(*) = 2 FROM patient_directory WHERE patient_id = ANY($1::text[])", patients), timeout=30)
    course = await pharmacy.post(f"/v1/patients/{other}/medications", headers=b_staff, json={
        "drug": SERTRALINE, "dose": 50, "unit": "mg", "schedule": {"times_per_day": 1},
        "started_at": "2026-11-01T08:00:00Z"})
    assert course.status_code == 201, course.text
    medication = course.json()["medication_id"]
    raised = await pharmacy.post(f"/v1/patients/{other}/medications/{medication}/dose-adjustments", headers=b_staff,
                                 json={"dose": 100, "unit": "mg", "reason": "titration",
                                       "effective_at": "2026-11-08T08:00:00Z"})
    assert raised.status_code == 201, raised.text  # version 2: the version oracle had something to tell
    episode = await therapy.post(f"/v1/patients/{other}/episodes", headers=b_staff, json={
        "modality": "cbt", "care_step": 2, "started_at": "2026-11-02T09:00:00Z", "setting": "individual"})
    assert episode.status_code == 201, episode.text
    episode_id = episode.json()["episode_id"]
    session = await therapy.post(f"/v1/patients/{other}/episodes/{episode_id}/sessions", headers=b_staff,
                                 json={"scheduled_at": "2026-11-09T09:00:00Z"})
    assert session.status_code == 201, session.text
    scored = await assessment.post(f"/v1/patients/{other}/assessments", headers=b_staff, json={
        "instrument": "PHQ-9", "item_scores": [1, 1, 1, 1, 1, 1, 1, 1, 2], "administered_at": "2026-11-03T09:00:00Z"})
    assert scored.status_code == 201, scored.text

    async def flag() -> str | None:
        resp = await services["coordination"].http.get(f"/v1/patients/{other}/flags", headers=b_staff)
        flags = resp.json() if resp.status_code == 200 else []
        return str(flags[0]["flag_id"]) if flags else None

    flag_id = await wait_until(flag, timeout=30, interval=0.2)
    return Seeded(own, other, {"medication_id": medication, "episode_id": episode_id,
                               "session_id": session.json()["session_id"], "flag_id": flag_id})


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str  # the template, e.g. /v1/patients/{patient_id}/medications/{medication_id}
    body_schema: dict[str, Any] | None

    @property
    def params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    def url(self, ids: dict[str, str]) -> str:
        return self.path.format(**ids)


PUBLIC = {("GET", "/health"), ("GET", "/ready")}  # unauthenticated on purpose; nothing else may be


def routes(services: dict[str, Service]) -> list[Route]:
    """Every operation of every service's OpenAPI document (new routes included as they come)."""
    found = []
    for name, service in services.items():
        spec = service.app.openapi()
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                content = operation.get("requestBody", {}).get("content", {})
                schema = content.get("application/json", {}).get("schema")
                found.append(Route(name, method.upper(), path, resolve(schema, spec) if schema else None))
    return found


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return resolve(spec["components"]["schemas"][name], spec)
    resolved = dict(schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in resolved:
            resolved[key] = [resolve(option, spec) for option in resolved[key]]
    if "properties" in resolved:
        resolved["properties"] = {k: resolve(v, spec) for k, v in resolved["properties"].items()}
    if "items" in resolved:
        resolved["items"] = resolve(resolved["items"], spec)
    return resolved


def example(schema: dict[str, Any]) -> Any:
    """A value valid for ``schema`` (every property filled, the first choice of every choice), so
    a probe passes validation and reaches the route's existence checks; a documented example
    first (a field with a pattern, such as a BCP 47 tag, documents one)."""
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return example(options[0])
    if "allOf" in schema:
        return example(schema["allOf"][0])
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        return {name: example(prop) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema.get("items", {})) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-11-10T09:00:00Z"
    if fmt == "date":
        return "1980-01-01"
    return "x" * max(1, schema.get("minLength", 1))


def id_sets(route: Route, seeded: Seeded) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """(another clinic's ids, ids that do not exist) pairs for a route with path ids: with the
    patient itself, and (where the path names more) the caller's own patient with the rest."""
    nothing = {name: f"no-such-{uuid.uuid4()}" for name in route.params}
    theirs = {name: seeded.other_ids.get(name, seeded.other_patient) for name in route.params}
    pairs = {}
    if "patient_id" in route.params:
        pairs["patient"] = ({**theirs, "patient_id": seeded.other_patient}, nothing)
        if len(route.params) > 1:
            pairs["sub-resource"] = ({**theirs, "patient_id": seeded.own_patient},
                                     {**nothing, "patient_id": seeded.own_patient})
    else:
        pairs["resource"] = (theirs, nothing)
    return pairs


async def timed(http: httpx.AsyncClient, route: Route, url: str, headers: dict[str, str]
                ) -> tuple[httpx.Response, float]:
    body = example(route.body_schema) if route.body_schema else None
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await http.request(route.method, url, json=body, headers=headers)
    return response, loop.time() - started
