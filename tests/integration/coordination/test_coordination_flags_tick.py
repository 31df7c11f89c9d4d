"""The rules' tick: an escalation due in a few seconds raises its stalled-escalation flag at its
due_by (event time) although no event arrives after it; and the tick competes for the patients'
locks like the projection does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from coordination_support import COORDINATOR, Stack, clinical_stack, enroll, timeline_count, wait_for_entries

from services.coordination.deps import CoordinationContext
from services.coordination.projection.store import lock_patients
from tests.support.services import wait_until


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace, rules_tick_seconds=0.3) as s:
        yield s


async def flags(stack: Stack, patient_id: str) -> list[dict[str, object]]:
    resp = await stack.coordination.get(f"/v1/patients/{patient_id}/flags", headers=COORDINATOR)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_the_tick_raises_a_deadline_that_passed_with_no_new_event_at_the_deadline(stack: Stack) -> None:
    context: CoordinationContext = stack.app.state.context
    pid = await enroll(stack.assessment)
    await wait_for_entries(stack.pool, {pid: 1})  # known to coordination first: the tick is the point
    due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    resp = await stack.coordination.post(f"/v1/patients/{pid}/escalations", headers=COORDINATOR, json={
        "target": "psychotherapy", "reason": "non_response", "decided_at": (due - timedelta(days=14)).isoformat(),
        "due_by": due.isoformat()})
    assert resp.status_code == 201, resp.text
    await wait_for_entries(stack.pool, {pid: 2})
    assert await flags(stack, pid) == [], "not due yet"
    ticks = context.tick.ticks
    await wait_until(lambda: context.tick.ticks > ticks)  # the tick runs while nothing is due …

    # … and holds the patient's lock while it evaluates: with the lock taken here, no tick gets through.
    async with stack.pool.acquire() as conn, conn.transaction():
        await lock_patients(conn, [pid])
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 1)
        assert await flags(stack, pid) == []
    [flag] = await wait_until(lambda: flags(stack, pid), timeout=10)
    assert (flag["rule_id"], flag["status"], datetime.fromisoformat(str(flag["raised_at"]))) == (
        "stalled_escalation", "open", due)
    assert await timeline_count(stack.pool, pid) == 2, "no event arrived: the tick raised it"
    change = await stack.pool.fetchval("SELECT change FROM flag_changes WHERE flag_id = $1", flag["flag_id"])
    assert change == "raised"
