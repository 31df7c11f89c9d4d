"""An erased patient (assessment's erasure) can still be read, but therapy and pharmacy
accept no new command about them: 409 with the reason, nothing written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shared.patient_api import ERASED, identity_erased
from tests.integration.therapy.support import COORD, THERAPIST, Stack, enroll, episode_body, post
from tests.support.services import token, wait_until

PRESCRIBER = token("prescriber")


async def test_an_erased_patient_is_read_but_receives_no_commands(serve: Callable[..., Awaitable[Stack]]) -> None:
    stack = await serve("assessment", "therapy", "pharmacy")
    assessment, th, ph = (stack.client[name] for name in ("assessment", "therapy", "pharmacy"))
    pid = await enroll(assessment)
    episodes, medications = f"/v1/patients/{pid}/episodes", f"/v1/patients/{pid}/medications"
    eid = (await post(th, episodes, episode_body()))["episode_id"]
    keyed = {**THERAPIST, "Idempotency-Key": "book-before-erasure"}
    booking = {"scheduled_at": "2026-11-09T10:00:00Z"}
    booked = await th.post(f"{episodes}/{eid}/sessions", headers=keyed, json=booking)
    assert booked.status_code == 201, booked.text
    mid = (await post(ph, medications, {
        "drug": {"code": "36437", "system": "RxNorm", "name": "sertraline"}, "dose": 50, "unit": "mg",
        "schedule": {"times_per_day": 1}, "started_at": "2026-11-01T08:00:00Z"}, headers=PRESCRIBER))["medication_id"]

    erased = await assessment.delete(f"/v1/patients/{pid}/identity", headers=token("admin"))
    assert erased.status_code == 204, erased.text
    apps = [stack.app["therapy"], stack.app["pharmacy"]]
    pools = [app.state.runtime.pool for app in apps]
    await wait_until(lambda: _all_erased(pools, pid))
    stores = [app.state.runtime.store for app in apps]
    before = [len(await store.read_all()) for store in stores]

    refusals = [
        await th.post(episodes, headers=THERAPIST, json=episode_body(started_at="2026-12-01T09:00:00Z")),
        await th.post(f"{episodes}/{eid}/sessions", headers=THERAPIST, json={"scheduled_at": "2026-11-16T10:00:00Z"}),
        await th.post(f"{episodes}/{eid}/end", headers=COORD, json={"reason": "other",
                                                                    "ended_at": "2026-12-01T09:00:00Z"}),
        await ph.post(f"{medications}/{mid}/dose-adjustments", headers=PRESCRIBER, json={
            "dose": 100, "unit": "mg", "reason": "insufficient_response", "effective_at": "2026-11-15T08:00:00Z"}),
        await ph.post(medications, headers=PRESCRIBER, json={
            "drug": {"code": "36437", "system": "RxNorm", "name": "sertraline"}, "dose": 25, "unit": "mg",
            "schedule": {"times_per_day": 1}, "started_at": "2026-12-01T08:00:00Z"}),
    ]
    for resp in refusals:
        assert resp.status_code == 409, resp.text
        assert resp.json() == {"detail": ERASED, "field": "patient_id"}
    assert [len(await store.read_all()) for store in stores] == before

    # what was recorded before stays readable, and a retry of an accepted command keeps its answer
    assert (await th.get(f"{episodes}/{eid}", headers=COORD)).json()["version"] == 2
    assert (await ph.get(f"{medications}/{mid}", headers=COORD)).json()["version"] == 1
    retried = await th.post(f"{episodes}/{eid}/sessions", headers=keyed, json=booking)
    assert retried.status_code == 201 and retried.json() == booked.json()
    # another clinic still learns nothing, not even that the patient was erased
    assert (await th.post(f"{episodes}/{eid}/sessions", headers=token("therapist", clinics=("clinic-b",)),
                          json=booking)).status_code == 404


async def _all_erased(pools: list[Any], patient_id: str) -> bool:
    return all([await identity_erased(pool, patient_id) for pool in pools])
