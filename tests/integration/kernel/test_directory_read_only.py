"""A service's database turns read-only (a failover, a full disk) while patients are being
enrolled, then writable again: the patient directory catches up with every patient,
nothing is dead-lettered, and ``/ready`` shows the directory's consumer failing meanwhile.

Pharmacy gets a database of its own for this test, so it alone can be switched with
``ALTER DATABASE … SET default_transaction_read_only`` while assessment keeps enrolling."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kernel_support import wait_for

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from shared.db import plain_dsn
from shared.kafka.security import client_security
from tests.support.services import make_settings, running, token

COORD = token("coordinator")


@pytest.fixture
async def own_database(pg_url: str) -> AsyncIterator[tuple[str, str]]:
    """(name, url) of a database created for this test and dropped afterwards."""
    name = f"t_ro_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(plain_dsn(pg_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, query = plain_dsn(pg_url).partition("?")
        url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        yield name, url
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _read_only(admin: asyncpg.Connection, database: str, on: bool) -> None:
    """Switch ``database`` and cut its sessions, so every new one gets the new default."""
    setting = "on" if on else "off"
    await admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {setting}')
    await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = $1 AND pid <> pg_backend_pid()", database)


async def _enroll(client: httpx.AsyncClient) -> str:
    resp = await client.post("/v1/patients", headers=COORD, json={
        "clinic_id": "clinic-a", "display_name": "Test Patient", "birth_date": "1985-03-01"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["patient_id"])


async def _known(url: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(plain_dsn(url), server_settings={"search_path": schema})
    try:
        return {r["patient_id"] for r in await conn.fetch("SELECT patient_id FROM patient_directory")}
    finally:
        await conn.close()


async def _dead_letters(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(**client_security(), bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()  # refresh metadata once
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return 0
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        return sum(end[tp] - begin[tp] for tp in tps)
    finally:
        await consumer.stop()


async def test_a_read_only_spell_loses_no_patient_and_shows_on_ready(
        pg_url: str, kafka_bootstrap: str, schema: str, namespace: str,
        own_database: tuple[str, str]) -> None:
    database, url = own_database
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    a_settings = make_settings("assessment", **common)
    # Pharmacy's relay has nothing to publish here; only its directory consumer is watched.
    p_settings = make_settings("pharmacy", **common, database_url=url, relay_enabled=False)
    pharmacy_schema = p_settings.database_schema
    admin = await asyncpg.connect(plain_dsn(pg_url))
    enrolled: list[str] = []
    seen: list[tuple[int, dict[str, Any]]] = []
    try:
        async with running(create_assessment, a_settings) as (_, assessment), \
                running(create_pharmacy, p_settings) as (pharmacy_app, pharmacy):
            for consumer in getattr(pharmacy_app.state.runtime, "consumers", []):
                consumer.stuck_after = 1.0  # long enough to tell failing from stuck here

            for _ in range(3):
                enrolled.append(await _enroll(assessment))

            async def all_known() -> bool:
                return set(enrolled) <= await _known(url, pharmacy_schema)
            await wait_for(all_known, 30, "the first patients in pharmacy's directory")

            async def watch_ready(stop: asyncio.Event) -> None:
                while not stop.is_set():
                    resp = await pharmacy.get("/ready")
                    seen.append((resp.status_code, resp.json()))
                    await asyncio.sleep(0.2)

            async def keep_enrolling(stop: asyncio.Event) -> None:
                while not stop.is_set():
                    enrolled.append(await _enroll(assessment))
                    await asyncio.sleep(0.1)

            stop = asyncio.Event()
            tasks = [asyncio.create_task(watch_ready(stop)), asyncio.create_task(keep_enrolling(stop))]
            try:
                await _read_only(admin, database, True)
                await asyncio.sleep(4)  # the spell: enrolments keep coming
                await _read_only(admin, database, False)
                await asyncio.sleep(1)
            finally:
                stop.set()
                await asyncio.gather(*tasks)

            await wait_for(all_known, 30, "every patient in pharmacy's directory after the spell")

            async def ready_again() -> bool:
                return (await pharmacy.get("/ready")).status_code == 200
            await wait_for(ready_again, 15, "/ready to answer 200 after the spell")
            final = (await pharmacy.get("/ready")).json()
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        await admin.close()

    assert len(enrolled) > 10
    assert set(enrolled) <= await _known(url, pharmacy_schema)
    assert await _dead_letters(kafka_bootstrap, f"{a_settings.topic()}.dlq") == 0, \
        "good enrolments were dead-lettered"

    def directory_status(body: dict[str, Any]) -> str | None:
        consumers = body.get("checks", {}).get("consumers", [])
        statuses = [c["status"] for c in consumers if c.get("projection") == "patient_directory"]
        return statuses[0] if statuses else None

    def directory_lag(body: dict[str, Any]) -> int:
        consumers = body.get("checks", {}).get("consumers", [])
        return max([c.get("lag") or 0 for c in consumers if c.get("projection") == "patient_directory"] or [0])

    statuses = [(code, directory_status(body)) for code, body in seen]
    assert any(s in ("failing", "stuck") for _, s in statuses), \
        f"/ready never showed the directory consumer failing: {statuses}"
    assert (503, "stuck") in statuses, f"/ready never answered 503 for the stuck consumer: {statuses}"
    assert any(directory_lag(body) > 0 for _, body in seen), "the enrolments waiting never showed as lag"
    assert directory_status(final) == "ok" and directory_lag(final) == 0
    assert final["checks"]["database"] == "ok" and final["status"] == "ready"
