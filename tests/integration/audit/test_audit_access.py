"""The access log: one row for every read of a patient's data and for every refused attempt on
a patient path (401, 403, 404: who if the token verified, roles, clinics, the route template,
the status), append-only; and coordination's merged view of all four services' logs, scoped to
the auditor's clinics, with a service that is down named rather than failing the request."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from audit_support import AUDITOR_A, AUDITOR_B, CLINICIAN, DRUGS, AuditStack, audit_stack, days_ago

from tests.support.services import token

B_STAFF = token("coordinator", "prescriber", clinics=("clinic-b",), sub="staff-b")
DASHBOARD = token("dashboard", clinics=("clinic-a",), sub="wallboard")
TIMELINE = "GET /v1/patients/{patient_id}/timeline"


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[AuditStack]:
    async with audit_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


async def refusals(pool: asyncpg.Pool, patient_id: str) -> list[tuple[object, ...]]:
    rows = await pool.fetch("SELECT staff_id, roles, caller_clinics, clinic_id, status, endpoint FROM access_log "
                            "WHERE patient_id = $1 AND outcome = 'refused' ORDER BY id", patient_id)
    return [tuple(r.values()) for r in rows]


async def test_every_read_and_every_refused_probe_is_a_row_and_rows_cannot_change(stack: AuditStack) -> None:
    pid = await stack.enroll()
    await stack.start(pid, DRUGS[0], days_ago(3))
    await stack.projected(pid, 2)
    unknown = str(uuid.uuid4())
    c, url = stack.coordination, f"/v1/patients/{pid}/timeline"

    reads = 0
    for path in ("timeline", "summary", "flags", "timeline"):
        assert (await c.get(f"/v1/patients/{pid}/{path}", headers=CLINICIAN)).status_code == 200
        reads += 1
    assert (await stack.pharmacy.get(f"/v1/patients/{pid}/medications", headers=CLINICIAN)).status_code == 200

    assert (await c.get(url)).status_code == 401
    assert (await c.get(url, headers={"Authorization": "Bearer not-a-token"})).status_code == 401
    assert (await c.get(url, headers=DASHBOARD)).status_code == 403
    assert (await c.get(url, headers=B_STAFF)).status_code == 404
    assert (await c.get(f"/v1/patients/{unknown}/timeline", headers=CLINICIAN)).status_code == 404
    assert (await stack.pharmacy.post(f"/v1/patients/{pid}/medications", headers=B_STAFF, json={
        "drug": DRUGS[1], "dose": 5, "unit": "mg", "schedule": {"times_per_day": 1},
        "started_at": days_ago(1).isoformat()})).status_code == 404
    # Not patient paths: a flag id, the rules catalogue.
    assert (await c.get(f"/v1/flags/{uuid.uuid4()}", headers=CLINICIAN)).status_code == 404
    assert (await c.get("/v1/rules")).status_code == 401

    allowed = await stack.pool.fetchval(
        "SELECT count(*) FROM access_log WHERE patient_id = $1 AND outcome = 'allowed'", pid)
    assert allowed == reads, "one row per read of the patient's data"
    assert await refusals(stack.pool, pid) == [
        (None, [], None, "clinic-a", 401, TIMELINE),
        (None, [], None, "clinic-a", 401, TIMELINE),
        ("wallboard", ["dashboard"], ["clinic-a"], "clinic-a", 403, TIMELINE),
        ("staff-b", ["coordinator", "prescriber"], ["clinic-b"], "clinic-a", 404, TIMELINE),
    ]
    assert await refusals(stack.pool, unknown) == [
        ("clin-1", ["assessor", "coordinator", "prescriber", "therapist"], ["clinic-a"], None, 404, TIMELINE)]
    assert await refusals(stack.pool_of("pharmacy"), pid) == [
        ("staff-b", ["coordinator", "prescriber"], ["clinic-b"], "clinic-a", 404,
         "POST /v1/patients/{patient_id}/medications")]
    assert await stack.pool.fetchval("SELECT count(*) FROM access_log WHERE outcome = 'refused'") == 5

    for statement in ("UPDATE access_log SET staff_id = 'someone-else'", "DELETE FROM access_log",
                      "DELETE FROM access_log WHERE false"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await stack.pool.execute(statement)
    assert await stack.pool.fetchval("SELECT count(*) FROM access_log WHERE staff_id = 'someone-else'") == 0


async def test_the_merged_log_spans_the_services_and_names_the_one_that_is_down(stack: AuditStack) -> None:
    pid, theirs = await stack.enroll("clinic-a"), await stack.enroll("clinic-b")
    await stack.start(pid, DRUGS[0], days_ago(3))
    await stack.projected(pid, 2)
    await stack.projected(theirs, 1)
    since = datetime.now(UTC)
    assert (await stack.assessment.get(f"/v1/patients/{pid}", headers=CLINICIAN)).status_code == 200
    assert (await stack.pharmacy.get(f"/v1/patients/{pid}/medications", headers=CLINICIAN)).status_code == 200
    assert (await stack.coordination.get(f"/v1/patients/{pid}/summary", headers=CLINICIAN)).status_code == 200
    assert (await stack.coordination.get(f"/v1/patients/{pid}/timeline", headers=B_STAFF)).status_code == 404
    b_reader = token("coordinator", clinics=("clinic-b",), sub="staff-b2")
    assert (await stack.coordination.get(f"/v1/patients/{theirs}/summary", headers=b_reader)).status_code == 200

    resp = await stack.coordination.get("/v1/audit/access", params={"patient": pid, "from": since.isoformat()},
                                        headers=AUDITOR_A)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["services"] == ["assessment", "coordination", "pharmacy"] and body["unavailable"] == ["therapy"]
    rows = [(e["service"], e["staff_id"], e["outcome"], e["status"]) for e in body["entries"]]
    assert rows == [("assessment", "clin-1", "allowed", None), ("pharmacy", "clin-1", "allowed", None),
                    ("coordination", "clin-1", "allowed", None), ("coordination", "staff-b", "refused", 404)]
    ats = [datetime.fromisoformat(e["at"]) for e in body["entries"]]
    assert ats == sorted(ats)

    only = await stack.coordination.get("/v1/audit/access", params={"actor": "staff-b", "from": since.isoformat()},
                                        headers=AUDITOR_A)
    assert [(e["service"], e["patient_id"], e["endpoint"]) for e in only.json()["entries"]] == [
        ("coordination", pid, TIMELINE)]
    window = await stack.coordination.get("/v1/audit/access", headers=AUDITOR_A, params={
        "patient": pid, "from": since.isoformat(), "to": (since - timedelta(seconds=1)).isoformat()})
    assert window.json()["entries"] == []

    # Clinic B's auditor sees clinic B's patient, not A's, nor B's staff probing A's patient.
    b = (await stack.coordination.get("/v1/audit/access", params={"from": since.isoformat()},
                                      headers=AUDITOR_B)).json()
    assert {e["patient_id"] for e in b["entries"]} == {theirs}
    assert (await stack.coordination.get("/v1/audit/access", headers=CLINICIAN)).status_code == 403
    assert (await stack.coordination.get("/v1/audit/access")).status_code == 401
    # Reading the log is a read too: each service recorded the auditor's look at the patient.
    for service in ("coordination", "assessment", "pharmacy"):
        assert await stack.pool_of(service).fetchval(
            "SELECT count(*) FROM access_log WHERE patient_id = $1 AND staff_id = 'audit-a' "
            "AND action = 'read access log'", pid) >= 1, service
