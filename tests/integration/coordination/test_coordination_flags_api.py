"""The flag API: acknowledgement (reason code, note kept here and erased with the identity,
one transaction with its change and event), 409 on a resolved flag, 404 for another clinic's
flag exactly as for a missing one; the worklist's order, filters and cursor; one flag with its
explanation; the rules' catalogue; roles; and the summary's open flags."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from coordination_chart import CLINICIAN, Chart
from coordination_support import Stack, clinical_stack, enroll, wait_for_entries
from flag_cohort import rapid_titration, safety, stalled_escalation, start_of_history, unreviewed_adverse_effect

from tests.support.services import read_topic, token

DASHBOARD = token("dashboard", clinics=("clinic-a",), sub="dash-1")
OTHER_CLINIC = CLINICIAN["clinic-b"]


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


async def patient(stack: Stack, archetype: Any) -> Chart:
    chart = Chart(stack, await enroll(stack.assessment), start_of_history())
    await archetype(chart)
    return chart


async def flags_of(stack: Stack, chart: Chart, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    resp = await stack.coordination.get(f"/v1/patients/{chart.patient_id}/flags", headers=headers or chart.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_acknowledging_flags_and_reading_them(stack: Stack) -> None:
    charts = [await patient(stack, a) for a in (safety, stalled_escalation, rapid_titration, unreviewed_adverse_effect)]
    urgent, stalled, titrated, effect = charts
    await wait_for_entries(stack.pool, {c.patient_id: len(c.expected) + 1 for c in charts})
    [safety_flag] = await flags_of(stack, urgent)
    [resolved_flag] = await flags_of(stack, titrated)
    assert resolved_flag["status"] == "resolved"

    ack = f"/v1/flags/{safety_flag['flag_id']}/acknowledgement"
    body = {"reason": "patient_contacted", "note": "called Erika, safety plan agreed"}
    assert (await stack.coordination.post(ack, json=body, headers=DASHBOARD)).status_code == 403
    assert (await stack.coordination.post(ack, json={"reason": "because"}, headers=urgent.headers)).status_code == 422
    missing = await stack.coordination.post("/v1/flags/no-such-flag/acknowledgement", json=body, headers=urgent.headers)
    elsewhere = await stack.coordination.post(ack, json=body, headers=OTHER_CLINIC)
    assert missing.status_code == elsewhere.status_code == 404 and missing.json() == elsewhere.json()

    resp = await stack.coordination.post(ack, json=body, headers=urgent.headers)
    assert resp.status_code == 200, resp.text
    done = resp.json()
    assert (done["status"], done["ack_reason"], done["acknowledged_by"], done["resolved_at"]) == (
        "acknowledged", "patient_contacted", "staff-1", None)
    assert "Erika" not in resp.text
    again = await stack.coordination.post(ack, json=body, headers=urgent.headers)
    assert again.status_code == 409
    closed = await stack.coordination.post(f"/v1/flags/{resolved_flag['flag_id']}/acknowledgement", json=body,
                                           headers=titrated.headers)
    assert closed.status_code == 409 and "resolved" in closed.json()["detail"]
    keyed = {"Idempotency-Key": "ack-1", **effect.headers}
    [effect_flag] = await flags_of(stack, effect)
    first = await stack.coordination.post(f"/v1/flags/{effect_flag['flag_id']}/acknowledgement",
                                          json={"reason": "action_planned"}, headers=keyed)
    replay = await stack.coordination.post(f"/v1/flags/{effect_flag['flag_id']}/acknowledgement",
                                           json={"reason": "action_planned"}, headers=keyed)
    assert (first.status_code, replay.status_code, replay.headers.get("Idempotent-Replayed")) == (200, 200, "true")
    assert replay.json() == first.json()

    change = await stack.pool.fetchrow("SELECT clinic_id, flag FROM flag_changes WHERE flag_id = $1 "
                                       "AND change = 'acknowledged'", safety_flag["flag_id"])
    assert change["clinic_id"] == "clinic-a" and json.loads(change["flag"]) == done
    records = await read_topic(stack.kafka, stack.settings.topic(kind="flags"), at_least=7, timeout=30)
    acks = [r for r in records if dict(r.headers)["ce_type"] == b"carecoord.coordination.RiskFlagAcknowledged.v1"]
    assert len({dict(r.headers)["ce_id"] for r in acks}) == 2
    event = next(json.loads(r.value) for r in acks if json.loads(r.value)["flag_id"] == safety_flag["flag_id"])
    assert (event["reason"], event["acknowledged_by"], event["severity"]) == ("patient_contacted", "staff-1", "urgent")
    assert all(b"Erika" not in r.value and b"safety plan" not in r.value for r in records), "the note left the service"

    await check_reads(stack, urgent, stalled, safety_flag)
    await check_erasure(stack, urgent, safety_flag)


async def check_reads(stack: Stack, urgent: Chart, stalled: Chart, safety_flag: dict[str, Any]) -> None:
    detail = await stack.coordination.get(f"/v1/flags/{safety_flag['flag_id']}", headers=urgent.headers)
    assert detail.status_code == 200, detail.text
    d = detail.json()
    assert (d["rule"]["rule_id"], d["rule_version"], d["thresholds"]) == ("safety", "1+thresholds.2026.1",
                                                                         {"min_item_score": 1})
    assert [(e["event_id"], e["type"], e["summary"]) for e in d["evidence_events"]] == [
        (safety_flag["evidence"][0], "AssessmentRecorded", "PHQ-9 3 (minimal); safety item positive")]
    assert d["acknowledgement_note"] == "called Erika, safety plan agreed"
    one = f"/v1/flags/{safety_flag['flag_id']}"
    assert (await stack.coordination.get(one, headers=OTHER_CLINIC)).status_code == 404
    assert (await stack.coordination.get(one, headers=DASHBOARD)).status_code == 403  # the note is clinical

    page = await stack.coordination.get("/v1/flags", headers=DASHBOARD, params={"limit": 2})
    assert page.status_code == 200, page.text
    flags, cursor = page.json()["flags"], page.json()["next_cursor"]
    while cursor:
        more = (await stack.coordination.get("/v1/flags", headers=DASHBOARD,
                                             params={"limit": 2, "cursor": cursor})).json()
        flags, cursor = flags + more["flags"], more["next_cursor"]
    assert [(f["rule_id"], f["status"]) for f in flags] == [  # most severe first, then the oldest raised
        ("safety", "acknowledged"), ("unreviewed_adverse_effect", "acknowledged"), ("stalled_escalation", "open")]
    only = await stack.coordination.get("/v1/flags", headers=urgent.headers, params={
        "status": "resolved", "rule": "rapid_titration", "severity": "warning,high"})
    assert [f["rule_id"] for f in only.json()["flags"]] == ["rapid_titration"]
    elsewhere = await stack.coordination.get("/v1/flags", headers=OTHER_CLINIC)
    assert elsewhere.json() == {"flags": [], "next_cursor": None}
    asked = await stack.coordination.get("/v1/flags", headers=urgent.headers, params={"clinic": "clinic-b"})
    assert asked.json()["flags"] == []
    for params in ({"status": "closed"}, {"rule": "astrology"}, {"cursor": "nope"}, {"limit": 201}):
        assert (await stack.coordination.get("/v1/flags", headers=urgent.headers, params=params)).status_code == 422

    assert [f["rule_id"] for f in await flags_of(stack, stalled, DASHBOARD)] == ["stalled_escalation"]
    summary = (await stack.coordination.get(f"/v1/patients/{stalled.patient_id}/summary",
                                            headers=stalled.headers)).json()
    assert [f["rule_id"] for f in summary["open_flags"]] == ["stalled_escalation"]
    rules = (await stack.coordination.get("/v1/rules", headers=DASHBOARD)).json()
    assert len(rules["rules"]) == 9 and rules["thresholds_version"] == "2026.1"
    assert rules["rules"][0]["clinics"] == {"clinic-a": {"count": 5, "high_count": 10}}

    log = (await stack.coordination.get(f"/v1/patients/{urgent.patient_id}/access-log",
                                        headers=token("auditor", sub="auditor-1"))).json()
    actions = {(x["staff_id"], x["action"]) for x in log}
    assert {("staff-1", "read flags"), ("staff-1", "read flag"), ("dash-1", "read flag worklist")} <= actions


async def check_erasure(stack: Stack, urgent: Chart, safety_flag: dict[str, Any]) -> None:
    resp = await stack.assessment.delete(f"/v1/patients/{urgent.patient_id}/identity",
                                         headers=token("admin", clinics=("clinic-a",)))
    assert resp.status_code == 204, resp.text
    await wait_for_entries(stack.pool, {urgent.patient_id: len(urgent.expected) + 2})
    note = await stack.pool.fetchval("SELECT note FROM flag_acknowledgements WHERE flag_id = $1",
                                     safety_flag["flag_id"])
    assert note is None, "the note outlived the patient's identity"
    d = (await stack.coordination.get(f"/v1/flags/{safety_flag['flag_id']}", headers=urgent.headers)).json()
    assert (d["status"], d["ack_reason"], d["acknowledgement_note"]) == ("acknowledged", "patient_contacted", None)
