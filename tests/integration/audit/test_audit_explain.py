"""A flag explained to an auditor: the rule, its version and thresholds at the raise, the
evidence with the timeline's summaries, why it resolved (the event that cleared it, or time
passing) and each change; the acknowledgement's note only for the care team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from audit_support import AUDITOR_A, AUDITOR_B, CLINICIAN, AuditStack, audit_stack, days_ago, rx

from tests.support.services import wait_until

OXYCODONE, DIAZEPAM, SERTRALINE = rx("oxycodone", "7804"), rx("diazepam", "3322"), rx("sertraline", "36437")


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[AuditStack]:
    async with audit_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


async def flag_of(stack: AuditStack, pid: str, rule: str, status: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        flags = (await stack.coordination.get(f"/v1/patients/{pid}/flags", headers=CLINICIAN)).json()
        return next((f for f in flags if f["rule_id"] == rule and f["status"] == status), None)
    return await wait_until(found, timeout=20)  # type: ignore[no-any-return]


async def detail(stack: AuditStack, flag_id: str, headers: dict[str, str]) -> dict[str, Any]:
    resp = await stack.coordination.get(f"/v1/flags/{flag_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_a_combination_cleared_by_a_stop_is_explained_without_the_note_to_auditors(stack: AuditStack) -> None:
    pid = await stack.enroll()
    await stack.start(pid, OXYCODONE, days_ago(20))
    diazepam = await stack.start(pid, DIAZEPAM, days_ago(19))
    flag = await flag_of(stack, pid, "dangerous_combination", "open")
    resp = await stack.coordination.post(f"/v1/flags/{flag['flag_id']}/acknowledgement", headers=CLINICIAN,
                                         json={"reason": "action_planned", "note": "taper agreed with Erika"})
    assert resp.status_code == 200, resp.text
    stop = f"/v1/patients/{pid}/medications/{diazepam['medication_id']}/discontinuation"
    resp = await stack.pharmacy.post(stop, headers=CLINICIAN,
                                     json={"reason": "interaction", "effective_at": days_ago(10).isoformat()})
    assert resp.status_code == 201, resp.text
    await flag_of(stack, pid, "dangerous_combination", "resolved")

    seen = await detail(stack, flag["flag_id"], AUDITOR_A)
    assert seen["acknowledgement_note"] is None and seen["acknowledgement_note_withheld"] is True
    assert seen["ack_reason"] == "action_planned" and seen["acknowledged_by"] == "clin-1"
    assert seen["rule"]["rule_id"] == "dangerous_combination" and seen["rule_version"].startswith(
        f"{seen['rule']['version']}+thresholds.")
    assert seen["thresholds"] and seen["explanation"]
    assert [e["type"] for e in seen["evidence_events"]] == ["MedicationStarted", "MedicationStarted"]
    assert all(e["summary"] for e in seen["evidence_events"])
    resolution = seen["resolution"]
    assert resolution["kind"] == "event" and resolution["at"] == seen["resolved_at"]
    assert resolution["event"]["type"] == "MedicationDiscontinued" and "diazepam" in resolution["event"]["summary"]
    assert [c["change"] for c in seen["changes"]] == ["raised", "acknowledged", "resolved"]
    assert seen["changes"][-1]["status"] == "resolved"

    care = await detail(stack, flag["flag_id"], CLINICIAN)
    assert care["acknowledgement_note"] == "taper agreed with Erika" and care["acknowledgement_note_withheld"] is False
    assert (await stack.coordination.get(f"/v1/flags/{flag['flag_id']}", headers=AUDITOR_B)).status_code == 404
    logged = await stack.pool.fetchval("SELECT count(*) FROM access_log WHERE patient_id = $1 AND action = 'read flag'",
                                       pid)
    assert logged == 2


async def test_a_rapid_titration_that_lapsed_resolved_with_time(stack: AuditStack) -> None:
    pid = await stack.enroll()
    course = await stack.start(pid, SERTRALINE, days_ago(30))
    mid, version = course["medication_id"], course["version"]
    for dose, ago in ((20, 20), (30, 18)):  # two increases within 7 days, then none
        resp = await stack.pharmacy.post(f"/v1/patients/{pid}/medications/{mid}/dose-adjustments", headers=CLINICIAN,
                                         json={"dose": dose, "unit": "mg", "reason": "titration",
                                               "effective_at": days_ago(ago).isoformat(), "expected_version": version})
        assert resp.status_code == 201, resp.text
        version = resp.json()["version"]
    flag = await flag_of(stack, pid, "rapid_titration", "resolved")
    seen = await detail(stack, flag["flag_id"], AUDITOR_A)
    assert seen["resolution"] == {"kind": "time", "at": seen["resolved_at"], "event": None,
                                  "text": "the condition lapsed with the passing of time, with no event"}
    assert seen["acknowledgement_note"] is None and seen["acknowledgement_note_withheld"] is False
    assert [c["change"] for c in seen["changes"]] == ["raised", "resolved"]
