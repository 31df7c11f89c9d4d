"""As-of reads through the real services: a drug started 25 days ago but recorded only after a
moment T is absent from the timeline, the summary and the flags as of T, and present (in its
clinical place, with the polypharmacy flag it completes, raised before T) afterwards; an
acknowledgement counts from its own moment; every read is in the access log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from audit_support import CLINICIAN, DRUGS, AuditStack, audit_stack, days_ago

from tests.support.services import wait_until


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[AuditStack]:
    async with audit_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


class Reader:
    """Reads of one patient's data on coordination, counted (the access log must hold each)."""

    def __init__(self, stack: AuditStack, patient_id: str) -> None:
        self.stack, self.patient_id, self.reads = stack, patient_id, 0

    async def get(self, what: str, as_of: datetime | None = None, **params: Any) -> Any:
        if as_of is not None:
            params["as_of"] = as_of.isoformat()
        resp = await self.stack.coordination.get(f"/v1/patients/{self.patient_id}/{what}", params=params,
                                                 headers=CLINICIAN)
        assert resp.status_code == 200, resp.text
        self.reads += 1
        return resp.json()


def names(timeline: dict[str, Any]) -> list[str]:
    return [e["type"] + (":" + e["data"]["drug"]["name"] if "drug" in e["data"] else "") for e in timeline["entries"]]


async def test_a_backdated_start_recorded_later_appears_only_as_of_after_its_recording(stack: AuditStack) -> None:
    pid = await stack.enroll()
    await stack.score(pid, days_ago(30), [2, 2, 2, 2, 2, 1, 1, 1, 0])
    for n, drug in enumerate(DRUGS[:4]):
        await stack.start(pid, drug, days_ago(20 - n))
    await stack.projected(pid, 6)
    await asyncio.sleep(0.05)
    before = datetime.now(UTC)
    await asyncio.sleep(0.05)
    late = await stack.start(pid, DRUGS[4], days_ago(25))  # backdated: the fifth drug, started 25 days ago
    await stack.projected(pid, 7)
    read = Reader(stack, pid)

    then, now = await read.get("timeline", before), await read.get("timeline")
    assert names(then) == ["AssessmentRecorded", "MedicationStarted:sertraline", "MedicationStarted:ibuprofen",
                           "MedicationStarted:paracetamol", "MedicationStarted:pregabalin", "PatientEnrolled"]
    assert names(now) == ["AssessmentRecorded", "MedicationStarted:quetiapine", "MedicationStarted:sertraline",
                          "MedicationStarted:ibuprofen", "MedicationStarted:paracetamol",
                          "MedicationStarted:pregabalin", "PatientEnrolled"]
    backdated = now["entries"][1]
    assert datetime.fromisoformat(backdated["occurred_at"]) < before < datetime.fromisoformat(backdated["recorded_at"])
    page = await read.get("timeline", before, limit=2)  # the cursor pages within the same moment
    rest = await read.get("timeline", before, cursor=page["next_cursor"])
    assert names(page) + names(rest) == names(then)

    flags_then, flags_now = await read.get("flags", before), await read.get("flags")
    assert flags_then == []
    poly = next(f for f in flags_now if f["rule_id"] == "polypharmacy")
    assert poly["status"] == "open" and datetime.fromisoformat(poly["raised_at"]) < before, \
        "the flag is dated before T: at T the team could not have known"
    after = datetime.now(UTC)
    assert await read.get("flags", after) == flags_now, "as of now, the rules give the live flags"

    summary_then, summary_now = await read.get("summary", before), await read.get("summary")
    assert [m["drug"]["name"] for m in summary_then["medications"]] == [d["name"] for d in DRUGS[:4]]
    assert summary_then["open_flags"] == [] and summary_then["event_count"] == 6
    assert summary_now["medications"][0]["medication_id"] == late["medication_id"]
    summary_after = await read.get("summary", after)
    assert {k: v for k, v in summary_after.items() if k != "as_of"} == {
        k: v for k, v in summary_now.items() if k != "as_of"}, "the summary refolded from the timeline is the live one"

    resp = await stack.coordination.post(f"/v1/flags/{poly['flag_id']}/acknowledgement", headers=CLINICIAN,
                                         json={"reason": "clinically_justified", "note": "discussed with Erika"})
    assert resp.status_code == 200, resp.text
    assert [f["status"] for f in await read.get("flags", after) if f["rule_id"] == "polypharmacy"] == ["open"]
    acked = [f for f in await read.get("flags", datetime.now(UTC)) if f["rule_id"] == "polypharmacy"]
    assert [(f["status"], f["ack_reason"]) for f in acked] == [("acknowledged", "clinically_justified")]
    assert await read.get("flags", datetime.now(UTC), status="open") == []

    for wrong in (datetime.now(UTC) + timedelta(hours=1), "2026-05-01T10:00:00"):  # the future; no zone
        value = wrong.isoformat() if isinstance(wrong, datetime) else wrong
        resp = await stack.coordination.get(f"/v1/patients/{pid}/timeline", params={"as_of": value},
                                            headers=CLINICIAN)
        assert resp.status_code == 422, resp.text

    async def logged() -> bool:
        return await stack.pool.fetchval("SELECT count(*) FROM access_log WHERE patient_id = $1 AND "
                                         "outcome = 'allowed'", pid) == read.reads
    assert await wait_until(logged, timeout=5), "one access-log row per read"
    actions = [r["action"] for r in await stack.pool.fetch(
        "SELECT action FROM access_log WHERE patient_id = $1 ORDER BY id", pid)]
    assert actions[0] == f"read timeline as of {before.isoformat()}" and "read summary" in actions
