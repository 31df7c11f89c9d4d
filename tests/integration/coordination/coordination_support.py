"""Shared pieces of coordination's integration tests: the services in-process, hand-made
events (therapy's, poison, synthetic histories), waits on the read models and checksums.
Not a test module (no ``test_`` prefix)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from services.assessment.app import create_app as create_assessment
from services.coordination.app import create_app as create_coordination
from services.coordination.flagging.evaluation import Flagging
from services.coordination.handlers import registry
from services.coordination.migrations import migrate_read_models
from services.coordination.projection.store import CoordinationProjection
from services.coordination.rules import load_config
from services.coordination.settings import CoordinationSettings
from services.coordination.status import partition_offsets
from services.pharmacy.app import create_app as create_pharmacy
from services.therapy.app import create_app as create_therapy
from shared.envelope import Envelope, event_type
from shared.eventstore import PostgresEventStore
from shared.kafka import headers as ce
from shared.kafka.clients import make_producer
from shared.projection import ProjectionRunner
from shared.settings import ServiceSettings
from tests.bench.coordination import publish
from tests.support.services import make_settings, running, token

COORDINATOR = token("coordinator", "assessor", "prescriber", "therapist", clinics=("clinic-a", "clinic-b"))


@dataclass
class Stack:
    assessment: httpx.AsyncClient
    pharmacy: httpx.AsyncClient
    coordination: httpx.AsyncClient
    app: FastAPI
    settings: ServiceSettings
    kafka: str
    therapy: httpx.AsyncClient | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        return self.app.state.runtime.pool  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def clinical_stack(pg_url: str, kafka: str, schema: str, namespace: str, *,
                         with_therapy: bool = False, **coordination: Any) -> AsyncIterator[Stack]:
    """Assessment, pharmacy and coordination in-process (and therapy, when asked for: the
    other tests put therapy's events on its topic themselves); ``coordination``: settings of
    coordination's own (``rules_tick_seconds``, say)."""
    common: dict[str, Any] = dict(pg_url=pg_url, kafka=kafka, schema=schema, namespace=namespace)
    # The API document is served (a test reads it) where the settings know the switch.
    c_settings = CoordinationSettings(**{**make_settings("coordination", **common).model_dump(),
                                         "api_docs_enabled": True, **coordination})
    async with contextlib.AsyncExitStack() as services:
        _, assessment = await services.enter_async_context(
            running(create_assessment, make_settings("assessment", **common)))
        _, pharmacy = await services.enter_async_context(running(create_pharmacy, make_settings("pharmacy", **common)))
        therapy = None
        if with_therapy:
            _, therapy = await services.enter_async_context(
                running(create_therapy, make_settings("therapy", **common)))
        app, coordination = await services.enter_async_context(running(create_coordination, c_settings))
        yield Stack(assessment, pharmacy, coordination, app, c_settings, kafka, therapy)


async def enroll(client: httpx.AsyncClient, clinic: str = "clinic-a") -> str:
    resp = await client.post("/v1/patients", headers=token("coordinator", clinics=(clinic,)), json={
        "clinic_id": clinic, "display_name": "Erika Mustermann", "birth_date": "1981-05-17"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["patient_id"])


@dataclass
class Episode:
    """A therapy episode's events, made by hand as the therapy service publishes them."""

    patient_id: str
    clinic_id: str = "clinic-a"
    episode_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = 0

    def event(self, name: str, at: datetime, **payload: Any) -> Envelope:
        self.version += 1
        return Envelope(
            id=uuid.uuid4(), source="/carecoord/therapy", type=event_type("therapy", name, 1),
            subject=self.patient_id, time=at, clinic_id=self.clinic_id, stream_id=f"episode-{self.episode_id}",
            payload={"patient_id": self.patient_id, "episode_id": self.episode_id, "occurred_at": at.isoformat(),
                     **payload},
            stream_version=self.version, recorded_at=datetime.now(UTC), actor="therapist-1")


async def produce(bootstrap: str, topic: str, envelopes: Sequence[Envelope]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for env in envelopes:
            key, value, headers = ce.encode(env)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def produce_raw(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes, list[tuple[str, bytes]]]]
                      ) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def timeline_count(pool: asyncpg.Pool, patient_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM timeline_entries WHERE patient_id = $1", patient_id))


async def wait_for_entries(pool: asyncpg.Pool, counts: dict[str, int], timeout: float = 30.0) -> None:
    """Until every patient's timeline holds (at least) the given number of entries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = {p: await timeline_count(pool, p) for p in counts}
        if all(got[p] >= n for p, n in counts.items()):
            return
        if loop.time() > deadline:
            raise AssertionError(f"timelines incomplete after {timeout:.0f} s: {got} of {counts}")
        await asyncio.sleep(0.1)


async def checksum(pool: asyncpg.Pool) -> dict[str, str]:
    """A digest of every read model this projection writes, wall-clock free."""
    queries = {
        "timeline": "SELECT event_id, patient_id, clinic_id, occurred_at, recorded_at, service, type, stream_id,"
                    " sequence, summary, data FROM timeline_entries ORDER BY event_id",
        "summaries": "SELECT patient_id, clinic_id, enrolled_at, event_count, last_event_at, state"
                     " FROM patient_summaries ORDER BY patient_id",
        "directory": "SELECT patient_id, clinic_id, identity_erased, enrolled_at FROM patient_directory"
                     " ORDER BY patient_id",
    }
    out = {}
    for name, sql in queries.items():
        rows = await pool.fetch(sql)
        out[name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest() + f":{len(rows)}"
    return out


FLAG_COLUMNS = ("flag_id, rule_id, rule_version, patient_id, clinic_id, severity, status, raised_at, resolved_at, "
                "thresholds, evidence, explanation")


async def flags_checksum(pool: asyncpg.Pool) -> str:
    """A digest of the flags a history implies (withdrawn ones are the live run's record of what
    was believed before a backdated event, not a function of the history: left out)."""
    rows = await pool.fetch(f"SELECT {FLAG_COLUMNS} FROM flags WHERE NOT withdrawn ORDER BY flag_id")
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest() + f":{len(rows)}"


async def caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Whether ``group`` has committed every partition of ``topics`` to its end."""
    offsets = await partition_offsets(bootstrap, group, topics)
    return all((committed or 0) >= end for _, committed, end in offsets)


@contextlib.asynccontextmanager
async def projecting(pool: asyncpg.Pool, bootstrap: str, group: str, topics: list[str], *,
                     flags_topic: str | None = None) -> AsyncIterator[ProjectionRunner]:
    """The coordination projection as a bare runner (its own group) for the block; with the
    rules when ``flags_topic`` names the (outbox) topic of its flag events."""
    await migrate_read_models(pool)
    flagging = Flagging(PostgresEventStore(pool), flags_topic, load_config()) if flags_topic else None
    runner = ProjectionRunner(pool=pool, bootstrap_servers=bootstrap, group_id=group, topics=topics,
                              projection=CoordinationProjection(registry(), flagging), partitions=3, max_backoff=0.5)
    await runner.migrate()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def until_caught_up(runner: ProjectionRunner, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await caught_up(runner.bootstrap_servers, runner.group_id, list(runner.topics)):
        if loop.time() > deadline:
            raise AssertionError(f"group {runner.group_id} did not reach the end of its topics")
        await asyncio.sleep(0.2)


def input_topics(settings: ServiceSettings) -> list[str]:
    return [settings.topic(s) for s in ("assessment", "pharmacy", "therapy", "coordination")]


async def publish_history(bootstrap: str, settings: ServiceSettings, events: Sequence[Envelope]) -> None:
    await publish(bootstrap, {s: settings.topic(s) for s in ("assessment", "pharmacy", "therapy", "coordination")},
                  list(events))
