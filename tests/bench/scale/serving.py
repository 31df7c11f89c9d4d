"""RSS of the services as processes: pharmacy on the large store, serving commands.

Pharmacy is started the way ``make up`` starts it (``python -m shared.cli serve``) on the
schema the append part filled; the patients of the first courses are put into its patient
directory (its projection of assessment's topic, which this bench has no need to run), then
one dose adjustment is posted on each of more distinct courses than the state cache holds,
so the cache ends at its bound. Assessment and therapy are started beside it on empty
schemas of their own, for their footprint at rest.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from shared.auth import issue_token
from shared.db import plain_dsn
from shared.handler import StateCache
from tests.bench.common import progress
from tests.bench.http_pharmacy import RawConnection, start_service, stop_services, wait_ready
from tests.bench.scale.memory import rss_bytes
from tests.bench.scale.rows import CLINIC, COURSE_START, course_ids

CACHE_BOUND = StateCache().size  # the handler's default bound, which the services use


@dataclass
class ServingMemory:
    stored: int  # events in pharmacy's store
    commands: int  # distinct courses adjusted (one command each)
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    pharmacy_ready: int = 0
    pharmacy_after: int = 0
    assessment_ready: int = 0
    therapy_ready: int = 0


async def measure(env: dict[str, str], schema: str, stored: int, courses: int, seconds: float,
                  concurrency: int = 8) -> ServingMemory:
    """At most ``courses`` commands, for at most ``seconds`` (on a busy 2-core machine a command
    can take tens of milliseconds, and the bound is 10,000 distinct courses)."""
    report = ServingMemory(stored, 0)
    conn = await asyncpg.connect(plain_dsn(env["CARECOORD_PHARMACY_DATABASE_URL"]),
                                 server_settings={"search_path": schema})
    try:
        # The append bench's events are sent already, as in a service whose relay keeps up.
        await conn.execute("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL")
        patients = sorted({course_ids(k)[0] for k in range(courses)})
        await conn.executemany("INSERT INTO patient_directory (patient_id, clinic_id, enrolled_at) VALUES ($1, $2, $3) "
                               "ON CONFLICT DO NOTHING", [(p, CLINIC, datetime(2025, 1, 1, tzinfo=UTC))
                                                          for p in patients])
    finally:
        await conn.close()
    token = issue_token(env["CARECOORD_JWT_SECRET"], sub="bench-prescriber", roles=["prescriber"],
                        clinics=[CLINIC], ttl_seconds=3600)
    services = [start_service(name, env) for name in ("pharmacy", "assessment", "therapy")]
    pharmacy = services[0]
    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            await wait_ready(client, services, timeout=180.0)
        await asyncio.sleep(2.0)  # past start-up work (relay's first batches, consumers joining)
        report.pharmacy_ready, report.assessment_ready, report.therapy_ready = (
            rss_bytes(s.proc.pid) for s in services)
        progress(f"serving: pharmacy ready on {stored:,} events, {report.pharmacy_ready / 2**20:,.0f} MiB; "
                 f"posting one dose adjustment on each of up to {courses:,} courses for up to {seconds:.0f} s")
        body = json.dumps({"dose": 75, "unit": "mg", "reason": "titration",
                           "effective_at": (COURSE_START + timedelta(days=60)).isoformat()}).encode()
        queue = list(range(courses))
        errors: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        async def worker() -> None:
            client = RawConnection("127.0.0.1", pharmacy.port, {"Authorization": f"Bearer {token}"})
            try:
                while queue and loop.time() < deadline:
                    patient, medication = course_ids(queue.pop())
                    report.commands += 1
                    status, answer = await client.request(
                        "POST", f"/v1/patients/{patient}/medications/{medication}/dose-adjustments", body)
                    if status == 201:
                        report.ok += 1
                    else:
                        errors[str(status)] = errors.get(str(status), 0) + 1
                        if len(errors) == 1 and errors[str(status)] == 1:
                            progress(f"serving: {status}: {answer[:300]!r}")
            finally:
                await client.close()

        t0 = loop.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        report.seconds = loop.time() - t0
        report.errors = errors
        report.pharmacy_after = rss_bytes(pharmacy.proc.pid)
        progress(f"serving: {report.ok:,} adjustments in {report.seconds:.1f} s, errors {errors or 'none'}; "
                 f"pharmacy {report.pharmacy_after / 2**20:,.0f} MiB")
    finally:
        await asyncio.to_thread(stop_services, services)
    return report
