"""Every refusal a service gives is in its OpenAPI document: the real service apps, built
in-process without infrastructure, are called on every route with too large a body and with
too large headers; each answer's status must be listed for the route, and its body must match
what is listed. Every route lists the refusals of authentication, ids and commands too; the
fuzzer (tests/integration/security/test_fuzz.py) checks those answers, which need the services
running."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from services.assessment.app import create_app as create_assessment
from services.coordination.app import create_app as create_coordination
from services.pharmacy.app import create_app as create_pharmacy
from services.therapy.app import create_app as create_therapy
from shared.settings import settings_for

SECRET = "security-test-secret-of-forty-bytes-0000"
CREATORS = {"assessment": create_assessment, "pharmacy": create_pharmacy, "therapy": create_therapy,
            "coordination": create_coordination}
PUBLIC = {"/health", "/ready"}


def _app(name: str) -> FastAPI:
    return CREATORS[name](settings_for(name)(jwt_secret=SECRET, api_docs_enabled=True, max_body_bytes=1024,
                                             max_header_bytes=4096))


def _resolver_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


@pytest.mark.parametrize("name", sorted(CREATORS))
async def test_size_refusals_are_documented(name: str) -> None:
    app = _app(name)
    spec = app.openapi()
    probes: dict[str, dict[str, Any]] = {
        "body too large": {"content": b"{}" + b" " * 2048, "headers": {"Content-Type": "application/json"}},
        "headers too large": {"headers": {"X-Padding": "x" * 8192}},
    }
    problems = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        for path, operations in spec["paths"].items():
            url = path.replace("{", "").replace("}", "")  # any id: the refusals come first
            for method, operation in operations.items():
                for label, probe in probes.items():
                    response = await http.request(method.upper(), url, **probe)
                    documented = operation["responses"].get(str(response.status_code))
                    where = f"{method.upper()} {path} ({label})"
                    if documented is None:
                        problems.append(f"{where}: {response.status_code} is not documented")
                        continue
                    schema = _resolver_schema(spec, documented["content"]["application/json"]["schema"])
                    try:
                        jsonschema.validate(response.json(), schema)
                    except jsonschema.ValidationError as exc:
                        problems.append(f"{where}: {response.status_code} body {response.text} — {exc.message}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(CREATORS))
def test_authentication_ids_and_commands_are_documented(name: str) -> None:
    spec = _app(name).openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if path in PUBLIC:
                assert not codes & {"401", "403", "404", "409", "429"}, path
                continue
            assert {"401", "403", "429", "503", "413", "431"} <= codes, f"{method} {path}"
            assert ("404" in codes) == ("{" in path), f"{method} {path}"
            assert ("409" in codes) == (method != "get"), f"{method} {path}"
