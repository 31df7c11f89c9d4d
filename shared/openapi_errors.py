"""The refusals every service gives, written into its OpenAPI document.

FastAPI documents a route's success and, where it has parameters, its 422. The shell refuses
more than that on every route (an unverified token, a missing role, an id unknown or of
another clinic, a command the state refuses, a request too large, a principal above its rate,
a database away); undocumented, a client generated from the document knows none of them and
a conformance check flags each. They are added from rules rather than route by route, so a
new route is documented the day it is added.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "title": "Detail"},
                   # the offending field, where a refusal names one
                   "field": {"type": "string", "title": "Field"}},
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again",
                                "schema": {"type": "integer"}}}

EVERY_ROUTE = {
    "413": "The request body is larger than the service accepts",
    "431": "The request headers are larger than the service accepts",
}
AUTHENTICATED = {
    "401": "No bearer token, or one that does not verify (expired, wrong signature, wrong algorithm)",
    "403": "The caller holds none of the roles this route requires",
    "429": "The caller sent more requests than its rate allows",
    "503": "The service's database is unavailable; the request did nothing",
}
WITH_PATH_IDS = {"404": "No such resource, or one of a clinic the caller does not belong to (the same answer)"}
COMMANDS = {"409": "The command is not possible in the current state (a stale expected version, a patient "
                   "whose identity was erased, an Idempotency-Key reused with another request)"}
_HEADERS = {"401": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
            "429": _RETRY_AFTER, "503": _RETRY_AFTER}


def document_errors(app: FastAPI, public_paths: Collection[str]) -> None:
    """Make ``app``'s OpenAPI document list the refusals; paths in ``public_paths`` are not
    authenticated, so they list only the size limits."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_errors(build(), public_paths)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_errors(spec: dict[str, Any], public_paths: Collection[str]) -> dict[str, Any]:
    spec.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            refusals = dict(EVERY_ROUTE)
            if path not in public_paths:
                refusals |= AUTHENTICATED
                if "{" in path:
                    refusals |= WITH_PATH_IDS
                if method != "get":
                    refusals |= COMMANDS
            responses = operation.setdefault("responses", {})
            for status, description in refusals.items():
                responses.setdefault(status, _response(status, description))
    return spec


def _response(status: str, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response
