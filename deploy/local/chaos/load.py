"""The load: the demo cohort (``shared.demo``) sent through the four HTTP APIs, with a ledger.

Every POST carries a correlation id derived from its Idempotency-Key, so a retried command
keeps it and the events it recorded can be found by it afterwards. The ledger holds each
acknowledged command (2xx) and every 5xx answer, with whether it was a 503 with Retry-After;
the demo client retries 503 (as told by Retry-After), 404 of a patient not yet known, 409 and
transport errors, over about five minutes here (a service restarting, a projection catching up).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from shared.demo.client import Api, Tokens
from shared.demo.cohort import Cohort, build
from shared.demo.loader import Loaded, fresh_anchor, load_cohort

CORRELATION = uuid.UUID("4f8b1c9e-2d7a-4c55-9b1e-6a0c3e5d7f21")
# About 300 s: longer than a fault may take to recover (faults.RECOVERY_TIMEOUT, 240 s), so a
# command the load gives up on means something did not recover, not a client too impatient
# for a projection catching up (a patient stays unknown to coordination, 404, until then).
DELAYS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 4.0, *(5.0,) * 57)


def correlation_for(idempotency_key: str) -> str:
    return str(uuid.uuid5(CORRELATION, idempotency_key))


@dataclass
class Ledger:
    acked: dict[str, tuple[str, str]] = field(default_factory=dict)  # idempotency key -> (service, correlation)
    statuses: Counter[int] = field(default_factory=Counter)
    bad_5xx: list[dict[str, object]] = field(default_factory=list)  # a 5xx that was not 503 + Retry-After
    good_503: int = 0
    sent: int = 0
    transport_errors: int = 0


def cohort_for(events: int, clinics: int = 3, seed: int = 16) -> Cohort:
    """The smallest cohort of at least ``events`` commands (one event each)."""
    sample = build(36, clinics, seed)
    per_patient = sum(len(c.steps) for c in sample.charts) / len(sample.charts)
    patients = max(12, math.ceil(events / per_patient))
    cohort = build(patients, clinics, seed)
    while sum(len(c.steps) for c in cohort.charts) < events:
        patients += max(1, patients // 50)
        cohort = build(patients, clinics, seed)
    return cohort


class Load:
    def __init__(self, urls: dict[str, str], secret: str, cohort: Cohort, concurrency: int = 16) -> None:
        self.cohort, self.concurrency = cohort, concurrency
        self.ledger = Ledger()
        self.total = sum(len(c.steps) for c in cohort.charts)
        self.done = 0
        self.started = 0.0
        self.finished: float | None = None
        port_service = {httpx.URL(url).port: name for name, url in urls.items()}

        async def on_request(request: httpx.Request) -> None:
            key = request.headers.get("Idempotency-Key")
            if request.method == "POST" and key:
                request.headers["X-Correlation-Id"] = correlation_for(key)
            self.ledger.sent += 1

        async def on_response(response: httpx.Response) -> None:
            request, code = response.request, response.status_code
            self.ledger.statuses[code] += 1
            if code >= 500:
                if code == 503 and response.headers.get("Retry-After"):
                    self.ledger.good_503 += 1
                else:
                    self.ledger.bad_5xx.append({"status": code, "retry_after": response.headers.get("Retry-After"),
                                                "service": port_service.get(request.url.port),
                                                "at": round(time.monotonic() - self.started, 1)})
            key = request.headers.get("Idempotency-Key")
            if request.method == "POST" and key and 200 <= code < 300:
                self.ledger.acked[key] = (port_service.get(request.url.port, "?"), correlation_for(key))

        hooks = {"request": [on_request], "response": [on_response]}
        self.clients = {name: httpx.AsyncClient(base_url=url, timeout=30.0, event_hooks=hooks)
                        for name, url in urls.items()}
        self.api = Api(self.clients, Tokens(secret, cohort.clinics), concurrency=concurrency, delays=DELAYS,
                       per_subject=10_000.0)

    def advance(self, n: int) -> None:
        self.done += n

    @property
    def rate(self) -> float:
        elapsed = (self.finished or time.monotonic()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    async def run(self) -> Loaded:
        self.started = time.monotonic()
        try:
            return await load_cohort(self.api, self.cohort, fresh_anchor(), self.advance, self.concurrency)
        finally:
            self.finished = time.monotonic()
            self.ledger.transport_errors = self.api.retries - sum(
                n for code, n in self.ledger.statuses.items() if code in (404, 409, 429) or code >= 500)

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients.values()))
