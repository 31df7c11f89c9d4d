"""The services run as a runtime role that owns nothing and cannot rewrite history: the event
store, the access log and the outbox's events take no UPDATE or DELETE from it, and it creates
no object; yet the whole command path works with it (before, every service connected as the
SUPERUSER that also ran the migrations)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from shared.db import plain_dsn
from shared.migrations import upgrade
from shared.migrations.grants import grant_runtime
from tests.support.services import make_settings, running, token

ROLE = "carecoord_runtime_test"
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}


def _as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}"))


@pytest.fixture
async def runtime_url(pg_url: str) -> str:
    password = secrets.token_urlsafe(24)
    conn = await asyncpg.connect(plain_dsn(pg_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", ROLE)
        verb = "ALTER" if exists else "CREATE"
        await conn.execute(f"{verb} ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'")
    finally:
        await conn.close()
    return _as_role(pg_url, ROLE, password)


async def test_the_runtime_role_runs_commands_but_cannot_rewrite_or_create(
        pg_url: str, runtime_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    for service in ("assessment", "pharmacy"):  # the migration role's pre-start step
        await upgrade(pg_url, f"{schema}_{service}", service)
        await grant_runtime(pg_url, f"{schema}_{service}", ROLE)

    common = dict(pg_url=runtime_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    async with running(create_assessment, make_settings("assessment", **common)) as (_, assessment), \
            running(create_pharmacy, make_settings("pharmacy", **common)) as (_, pharmacy):
        enrolled = await assessment.post("/v1/patients", headers=token("coordinator"), json={
            "clinic_id": "clinic-a", "display_name": "Test Patient", "birth_date": "1985-03-01"})
        assert enrolled.status_code == 201, enrolled.text
        patient = enrolled.json()["patient_id"]
        started = await pharmacy.post(f"/v1/patients/{patient}/medications", headers=token("prescriber"), json={
            "drug": SERTRALINE, "dose": 50, "unit": "mg", "schedule": {"times_per_day": 1}, "route": "oral",
            "indication": {"system": "ICD-10", "code": "F32.1"}, "started_at": "2026-11-01T08:00:00Z"})
        assert started.status_code == 201, started.text
        read = await pharmacy.get(f"/v1/patients/{patient}/medications", headers=token("prescriber"))
        assert read.status_code == 200 and len(read.json()) == 1

    conn = await asyncpg.connect(plain_dsn(runtime_url))
    try:
        await conn.execute(f'SET search_path TO "{schema}_pharmacy"')
        assert await conn.fetchval("SELECT count(*) FROM events") == 1  # it reads what it needs
        assert await conn.fetchval("SELECT count(*) FROM access_log") >= 1
        refused = [
            "UPDATE events SET payload = '{}'::jsonb",
            "DELETE FROM events",
            "TRUNCATE events",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
            "UPDATE outbox SET topic = 'elsewhere'",
            "DELETE FROM outbox",
            "ALTER TABLE events DISABLE TRIGGER USER",
            "CREATE TABLE smuggled (id int)",
            "DROP TABLE events",
        ]
        for statement in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        await conn.execute("UPDATE outbox SET sent_at = sent_at")  # the relay's delivery mark stays possible
    finally:
        await conn.close()
