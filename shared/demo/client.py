"""The loader's HTTP side: one token per staff role and clinic, bounded concurrency, and the
retries a client of an event-sourced platform needs.

- 404 on a patient enrolled a moment ago: the service learns of the patient from Kafka, a
  little later; asked again with backoff.
- 503 (database away, with Retry-After), 409 (a concurrent change), 5xx and transport errors:
  asked again. Every POST carries an Idempotency-Key, so a retry of a request that did reach
  the service records nothing twice.
- 429: the services allow each caller (token subject) 50 requests a second by default; the
  loader paces each of its staff to half that, and waits as told should a 429 come anyway.
- Anything else (401, 403, 422) is a mistake that retrying cannot mend: raised with the
  service's reason (which never contains patient data).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.auth.cli import LOCAL_SECRET_FILE, SECRET_ENV
from shared.auth.tokens import issue_token

ROLE_OF_SERVICE = {"assessment": "assessor", "pharmacy": "prescriber", "therapy": "therapist",
                   "coordination": "coordinator"}
TOKEN_TTL = 4 * 3600
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0)  # about 19 s, plus each service's own 1 s wait on a miss
RETRIED = {404, 409, 429, 500, 502, 503, 504}
PER_SUBJECT_PER_SECOND = 25.0  # half the services' default rate limit per token subject


class LoadError(Exception):
    """A request the loader cannot make succeed."""


def resolve_secret(secret_file: Path | None = None) -> str:
    """As ``carecoord token``: a file given, else $CARECOORD_JWT_SECRET, else the local stack's."""
    if secret_file is None and os.environ.get(SECRET_ENV, "").strip():
        return os.environ[SECRET_ENV].strip()
    path = secret_file or LOCAL_SECRET_FILE
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError:
        secret = ""
    if not secret:
        raise LoadError(f"no JWT secret: start the local stack (`make up` writes {LOCAL_SECRET_FILE}) "
                        f"or set {SECRET_ENV}")
    return secret


class Pace:
    """Request starts of one caller spaced ``1 / per_second`` apart."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class Tokens:
    """Bearer headers of the demo's staff: one per role and clinic (``demo-prescriber-clinic-a``),
    so the records name a plausible author; the reader sees every clinic of the cohort."""

    def __init__(self, secret: str, clinics: tuple[str, ...]) -> None:
        self.secret, self.clinics = secret, clinics
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    def staff(self, service: str, clinic: str) -> dict[str, str]:
        role = ROLE_OF_SERVICE[service]
        return self._headers(role, clinic, f"demo-{role}-{clinic}", [role])

    def reader(self) -> dict[str, str]:
        return self._headers("reader", "*", "demo-loader", ["coordinator"])

    def _headers(self, role: str, clinic: str, sub: str, roles: list[str]) -> dict[str, str]:
        key = (role, clinic)
        if key not in self._cache:
            clinics = list(self.clinics) if clinic == "*" else [clinic]
            token = issue_token(self.secret, sub=sub, roles=roles, clinics=clinics, ttl_seconds=TOKEN_TTL)
            self._cache[key] = {"Authorization": f"Bearer {token}"}
        return self._cache[key]


@dataclass
class Answer:
    status: int
    body: Any
    replayed: bool


class Api:
    """The four services' HTTP clients behind one semaphore (``concurrency`` requests at once)."""

    def __init__(self, clients: Mapping[str, httpx.AsyncClient], tokens: Tokens, concurrency: int = 12,
                 delays: tuple[float, ...] = RETRY_DELAYS, per_subject: float = PER_SUBJECT_PER_SECOND) -> None:
        self.clients, self.tokens, self.delays = clients, tokens, delays
        self._slots = asyncio.Semaphore(concurrency)
        self._per_subject = per_subject
        self._paces: dict[str, Pace] = {}
        self.retries = 0

    async def post(self, service: str, path: str, body: dict[str, Any], key: str, clinic: str) -> Answer:
        headers = {**self.tokens.staff(service, clinic), "Idempotency-Key": key}
        return await self._call(service, "POST", path, headers, body)

    async def get(self, service: str, path: str, params: Mapping[str, Any] | None = None,
                  retry_missing: bool = True) -> Answer:
        return await self._call(service, "GET", path, self.tokens.reader(), None, params, retry_missing)

    async def _call(self, service: str, method: str, path: str, headers: dict[str, str], body: Any,
                    params: Mapping[str, Any] | None = None, retry_missing: bool = True) -> Answer:
        client = self.clients[service]
        pace = self._paces.setdefault(headers["Authorization"], Pace(self._per_subject))
        for delay in (*self.delays, None):
            await pace.wait()
            try:
                async with self._slots:
                    response = await client.request(method, path, headers=headers, json=body, params=params)
            except httpx.TransportError as exc:
                if delay is None:
                    raise LoadError(f"{service} {method} {_shape(path)}: {type(exc).__name__}") from exc
            else:
                code = response.status_code
                if code < 300:
                    return Answer(code, response.json(), response.headers.get("Idempotent-Replayed") == "true")
                if code == 404 and not retry_missing:
                    return Answer(code, None, False)
                if code not in RETRIED or delay is None:
                    raise LoadError(f"{service} {method} {_shape(path)} answered {code}: {_reason(response)}")
                delay = max(delay, _retry_after(response))
            self.retries += 1
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _shape(path: str) -> str:
    """The route without ids, for messages: ``/v1/patients/…/medications/…/dose-adjustments``."""
    return "/".join("…" if len(part) >= 32 else part for part in path.split("/"))


def _reason(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    return str(detail)[:300]


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", 0)), 10.0)
    except ValueError:
        return 0.0
