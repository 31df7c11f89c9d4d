"""Existence oracles: every 404 about a patient takes one path (one directory query, the same
wait, the same answer), ownership is decided before versions, and a client that enrolls and
writes at once is still served, woken by the enrolment's NOTIFY rather than by polling."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from shared.directory import PatientDirectory, add_patient
from tests.support.services import make_settings, running, token, wait_until

A = token("prescriber", "coordinator", clinics=("clinic-a",), sub="staff-a")
B = token("prescriber", "coordinator", clinics=("clinic-b",), sub="staff-b")
NOW = datetime(2026, 11, 1, tzinfo=UTC)
START = {"drug": {"code": "36437", "system": "RxNorm", "name": "sertraline"}, "dose": 50, "unit": "mg",
         "schedule": {"times_per_day": 1}, "started_at": "2026-11-01T08:00:00Z"}


class Stack:
    def __init__(self, assessment: httpx.AsyncClient, pharmacy: httpx.AsyncClient, pharmacy_app: Any) -> None:
        self.assessment, self.pharmacy, self.pharmacy_app = assessment, pharmacy, pharmacy_app

    @property
    def directory(self) -> PatientDirectory:
        return self.pharmacy_app.state.context.directory  # type: ignore[no-any-return]

    async def enroll(self, clinic: str) -> str:
        resp = await self.assessment.post("/v1/patients", headers=token("coordinator", clinics=(clinic,)), json={
            "clinic_id": clinic, "display_name": "Oracle Probe", "birth_date": "1980-01-01"})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["patient_id"])

    async def known(self, *patients: str) -> None:
        pool = self.pharmacy_app.state.runtime.pool
        await wait_until(lambda: pool.fetchval("SELECT count(*) = $2 FROM patient_directory "
                                               "WHERE patient_id = ANY($1::text[])", list(patients), len(patients)))


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    async with running(create_assessment, make_settings("assessment", **common)) as (_, assessment), \
            running(create_pharmacy, make_settings("pharmacy", **common)) as (app, pharmacy):
        # the LISTEN is up before a test relies on it (a directory without one has no such flag)
        await wait_until(lambda: getattr(app.state.context.directory, "_listening", True), timeout=10)
        yield Stack(assessment, pharmacy, app)


class CountingPool:
    """The directory's pool, counting the directory lookups that go through it."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.lookups = pool, 0

    async def fetchval(self, query: str, *args: Any) -> Any:
        if "FROM patient_directory" in query:
            self.lookups += 1
        return await self.pool.fetchval(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        if "FROM patient_directory" in query:
            self.lookups += 1
        return await self.pool.fetchrow(query, *args)


async def _timed(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.get(url, headers=A)
    return response, loop.time() - started


async def test_another_clinics_patient_and_an_unknown_one_take_the_same_time(stack: Stack) -> None:
    theirs = await stack.enroll("clinic-b")
    await stack.known(theirs)
    answers: dict[str, list[tuple[httpx.Response, float]]] = {"theirs": [], "unknown": []}
    for _ in range(3):
        answers["theirs"].append(await _timed(stack.pharmacy, f"/v1/patients/{theirs}/medications"))
        answers["unknown"].append(await _timed(stack.pharmacy, f"/v1/patients/{uuid.uuid4()}/medications"))
    for kind, seen in answers.items():
        assert [r.status_code for r, _ in seen] == [404] * 3, kind
        # Both wait out the directory's 1 s window (before, another clinic's patient answered at
        # once); the upper bound only guards against a hang, since a busy machine adds delay.
        assert 0.9 <= statistics.median(s for _, s in seen) < 3.0, (kind, [s for _, s in seen])
    assert answers["theirs"][0][0].json() == answers["unknown"][0][0].json() == {"detail": "patient not found"}


async def test_a_refused_patient_costs_one_directory_query(stack: Stack) -> None:
    theirs = await stack.enroll("clinic-b")
    await stack.known(theirs)
    counting = CountingPool(stack.directory.pool)
    stack.directory.pool = counting  # type: ignore[assignment]
    try:
        for patient in (theirs, str(uuid.uuid4())):
            before = counting.lookups
            assert (await stack.pharmacy.get(f"/v1/patients/{patient}/medications", headers=A)).status_code == 404
            assert counting.lookups - before == 1
    finally:
        stack.directory.pool = counting.pool


async def test_another_clinics_course_is_404_before_its_version_is_compared(stack: Stack) -> None:
    mine, theirs = await stack.enroll("clinic-a"), await stack.enroll("clinic-b")
    await stack.known(mine, theirs)
    started = await stack.pharmacy.post(f"/v1/patients/{theirs}/medications", json=START, headers=B)
    assert started.status_code == 201, started.text
    course = started.json()["medication_id"]
    adjust = {"dose": 75, "unit": "mg", "reason": "titration", "effective_at": "2026-11-05T08:00:00Z",
              "expected_version": 7}
    foreign = await stack.pharmacy.post(f"/v1/patients/{mine}/medications/{course}/dose-adjustments",
                                        json=adjust, headers=A)
    missing = await stack.pharmacy.post(f"/v1/patients/{mine}/medications/{uuid.uuid4()}/dose-adjustments",
                                        json=adjust, headers=A)
    assert foreign.status_code == missing.status_code == 404, (foreign.text, missing.text)
    assert foreign.json() == missing.json() == {"detail": "medication course not found", "field": "medication_id"}
    # the caller's own course still answers a stale version with 409
    own = (await stack.pharmacy.post(f"/v1/patients/{mine}/medications", json=START, headers=A)).json()
    stale = await stack.pharmacy.post(f"/v1/patients/{mine}/medications/{own['medication_id']}/dose-adjustments",
                                      json=adjust, headers=A)
    assert stale.status_code == 409


async def test_a_patient_enrolled_a_moment_ago_is_served_without_waiting_the_window(stack: Stack) -> None:
    stack.directory.miss_wait_seconds = 5.0
    loop = asyncio.get_running_loop()
    patient = await stack.enroll("clinic-a")
    started = loop.time()
    response = await stack.pharmacy.post(f"/v1/patients/{patient}/medications", json=START, headers=A)
    assert response.status_code == 201, response.text
    assert loop.time() - started < 4.0, "woken by the enrolment, not at the end of the window"


async def test_without_the_listener_a_lookup_looks_once_more_at_the_deadline(stack: Stack) -> None:
    """The LISTEN connection may be down (a failover): an enrolment arriving during the wait is
    still found, by one more query at the deadline."""
    runtime = stack.pharmacy_app.state.runtime
    directory = PatientDirectory(runtime.pool, miss_wait_seconds=0.5)  # never listens
    patient = f"late-{uuid.uuid4()}"

    async def enrol_late() -> None:
        await asyncio.sleep(0.1)
        await add_patient(runtime.pool, patient, "clinic-a", NOW)

    loop = asyncio.get_running_loop()
    started = loop.time()
    clinic, _ = await asyncio.gather(directory.visible_clinic(patient, {"clinic-a"}), enrol_late())
    assert clinic == "clinic-a"
    assert loop.time() - started >= 0.45


async def test_a_listening_directory_is_woken_by_the_notify(stack: Stack) -> None:
    runtime = stack.pharmacy_app.state.runtime
    directory = PatientDirectory(runtime.pool, miss_wait_seconds=3.0)
    stop = asyncio.Event()
    listener = asyncio.create_task(directory.listen(stop))
    try:
        await wait_until(lambda: directory._listening, timeout=10)
        patient = f"soon-{uuid.uuid4()}"

        async def enrol_soon() -> None:
            await asyncio.sleep(0.1)
            await add_patient(runtime.pool, patient, "clinic-a", NOW)

        loop = asyncio.get_running_loop()
        started = loop.time()
        clinic, _ = await asyncio.gather(directory.visible_clinic(patient, {"clinic-a"}), enrol_soon())
        assert clinic == "clinic-a"
        assert loop.time() - started < 1.0
        other = f"elsewhere-{uuid.uuid4()}"
        started = loop.time()
        refused, _ = await asyncio.gather(directory.visible_clinic(other, {"clinic-a"}),
                                          add_patient(runtime.pool, other, "clinic-b", NOW))
        assert refused is None and loop.time() - started >= 2.9, "another clinic's enrolment is no early answer"
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(listener, 5)
