"""A command that cannot get the database's locks in time is answered 503 with Retry-After
(the request did nothing and may be retried), never a 500 and never a hang."""

from __future__ import annotations

import asyncpg

from services.assessment.app import create_app as create_assessment
from shared.db import plain_dsn
from shared.eventstore.postgres import APPEND_LOCK
from tests.support.services import make_settings, running, token


async def test_a_held_append_lock_answers_503_and_records_nothing(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> None:
    settings = make_settings("assessment", pg_url=pg_url, kafka=kafka_bootstrap, schema=schema,
                             namespace=namespace, database_lock_timeout=0.3)
    async with running(create_assessment, settings) as (_, client):
        holder = await asyncpg.connect(plain_dsn(pg_url))
        try:
            async with holder.transaction():
                # What a paused instance in the middle of an append holds.
                await holder.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", APPEND_LOCK,
                                     settings.database_schema)
                resp = await client.post("/v1/patients", headers=token("coordinator"), json={
                    "clinic_id": "clinic-a", "display_name": "Test Patient", "birth_date": "1985-03-01"})
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"] == "1"
            assert "Test Patient" not in resp.text
            count = await holder.fetchval(f'SELECT count(*) FROM "{settings.database_schema}".events')
            assert count == 0
        finally:
            await holder.close()
        retried = await client.post("/v1/patients", headers=token("coordinator"), json={
            "clinic_id": "clinic-a", "display_name": "Test Patient", "birth_date": "1985-03-01"})
        assert retried.status_code == 201
