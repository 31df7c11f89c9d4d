"""``carecoord replay``: the read models rebuilt from offset 0 into a scratch schema while the live
service serves and keeps projecting new events, checksums equal under the swap's lock, the swap,
and the service working on the rebuilt tables afterwards; one patient replayed up to a moment
shows what the as-of API shows for that moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from audit_support import CLINICIAN, DRUGS, AuditStack, audit_stack, days_ago

from services.coordination.replay.patient import replay_patient
from services.coordination.replay.rebuild import rebuild, topics
from services.coordination.settings import CoordinationSettings
from tests.bench.coordination import publish, synthetic_history
from tests.support.services import wait_until


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[AuditStack]:
    async with audit_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


def settings_of(stack: AuditStack) -> CoordinationSettings:
    assert isinstance(stack.settings, CoordinationSettings)
    return stack.settings


async def publish_history(stack: AuditStack, patients: int, seed: int) -> int:
    events = synthetic_history(patients=patients, seed=seed)
    names = dict(zip(("assessment", "pharmacy", "therapy", "coordination"), topics(settings_of(stack)), strict=True))
    await publish(stack.kafka, names, events)
    return len(events)


async def timeline_total(stack: AuditStack) -> int:
    return int(await stack.pool.fetchval("SELECT count(*) FROM timeline_entries"))


async def test_a_rebuild_while_serving_equals_the_live_models_and_is_swapped_in(stack: AuditStack) -> None:
    pid = await stack.enroll()
    for n, drug in enumerate(DRUGS):
        await stack.start(pid, drug, days_ago(20 - n))
    total = await publish_history(stack, patients=30, seed=4) + 1 + len(DRUGS)
    await wait_until(lambda: _at_least(stack, total), timeout=60)
    flags = (await stack.coordination.get(f"/v1/patients/{pid}/flags", headers=CLINICIAN)).json()
    poly = next(f for f in flags if f["rule_id"] == "polypharmacy")
    resp = await stack.coordination.post(f"/v1/flags/{poly['flag_id']}/acknowledgement", headers=CLINICIAN,
                                         json={"reason": "clinically_justified"})
    assert resp.status_code == 200, resp.text

    s = settings_of(stack)
    verified = await rebuild(s, swap=False, workers=2)  # the bulk in two processes sharing the partitions
    assert verified.equal and verified.live["timeline"].endswith(f":{total}"), verified
    assert verified.events == total and verified.rate > 0

    async def more_while_rebuilding() -> int:
        await asyncio.sleep(0.5)
        return await publish_history(stack, patients=5, seed=11)  # the live projection takes them meanwhile

    extra, report = await asyncio.gather(more_while_rebuilding(), rebuild(s, swap=True))
    assert report.swapped and report.equal, (report.live, report.rebuilt)
    assert report.live["flags"].split(":")[1] != "0"
    leftovers = await stack.pool.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1::text[])",
                                          [report.scratch, report.retired])
    assert leftovers == 0, "the scratch and retired schemas are dropped after the swap"

    await wait_until(lambda: _at_least(stack, total + extra), timeout=60)
    resp = await stack.coordination.post(f"/v1/patients/{pid}/escalations", headers=CLINICIAN, json={
        "target": "psychotherapy", "reason": "non_response", "decided_at": days_ago(1).isoformat()})
    assert resp.status_code == 201, resp.text
    await stack.projected(pid, 1 + len(DRUGS) + 1)  # the live projection writes into the swapped-in tables
    flags = (await stack.coordination.get(f"/v1/patients/{pid}/flags", headers=CLINICIAN)).json()
    assert [f["status"] for f in flags if f["rule_id"] == "polypharmacy"] == ["acknowledged"]
    again = await rebuild(s, swap=False)
    assert again.equal and again.live["timeline"].endswith(f":{total + extra + 1}")


async def _at_least(stack: AuditStack, count: int) -> bool:
    return await timeline_total(stack) >= count


async def test_one_patient_replayed_up_to_a_moment_shows_what_the_as_of_reads_show(stack: AuditStack) -> None:
    pid = await stack.enroll()
    for n, drug in enumerate(DRUGS[:4]):
        await stack.start(pid, drug, days_ago(20 - n))
    await stack.projected(pid, 5)
    await asyncio.sleep(0.05)
    before = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await stack.start(pid, DRUGS[4], days_ago(25))  # the fifth drug, backdated, recorded after `before`
    await stack.projected(pid, 6)

    then, _ = await replay_patient(settings_of(stack), pid, before)
    now, _ = await replay_patient(settings_of(stack), pid, None)
    api_then = (await stack.coordination.get(f"/v1/patients/{pid}/timeline", headers=CLINICIAN,
                                             params={"as_of": before.isoformat()})).json()["entries"]
    assert [e["summary"] for e in then["timeline"]] == [e["summary"] for e in api_then]
    assert len(now["timeline"]) == 6 and len(then["timeline"]) == 5
    api_flags = (await stack.coordination.get(f"/v1/patients/{pid}/flags", headers=CLINICIAN,
                                              params={"as_of": before.isoformat()})).json()
    assert then["flags"] == api_flags == []
    assert [f["rule_id"] for f in now["flags"]] == ["polypharmacy"]
    assert then["summary"]["event_count"] == 5 and now["summary"]["event_count"] == 6
