"""(d): the coordination projection — four topics into timeline and summaries, without and with
the rules.

N events of realistic shape (enrolments, scores, life changes, medication courses, therapy
episodes, team decisions; ~20 per patient) sit on the four input topics, each keyed by
patient. Ours: the coordination service's ``ProjectionRunner`` + ``CoordinationProjection``
(read, lock, fold, timeline rows, summaries, directory, tracking; one transaction per fetch)
until all N are applied, into emptied read models each round. Baseline: an aiokafka consumer
with the same settings reading the same four topics and doing nothing else. Then the same
projection with every rule on (evaluation of each batch's patients from their timelines,
reconciliation, flags, change log and flag events with their outbox rows) beside it without
rules, in the same rounds; the issue's aim is rules costing less than half of the projection's
time, i.e. a ratio of at least 0.5. All timed from the first non-empty fetch.

Also the source of synthetic histories for coordination's integration tests.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.coordination.flagging.evaluation import Flagging
from services.coordination.handlers import registry
from services.coordination.migrations import migrate_read_models
from services.coordination.projection.store import CoordinationProjection
from services.coordination.rules import load_config
from shared.db import create_pool
from shared.envelope import Envelope, event_type
from shared.eventstore import PostgresEventStore
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics
from shared.kafka.security import client_security
from shared.projection import ProjectionRunner
from tests.bench.common import BenchEnv, Comparison, interleaved, progress, rate
from tests.bench.projection import CONSUMER_OPTIONS, TIMEOUT, StampedConsumer
from tests.bench.relay import raw_producer

SOURCES = ("assessment", "pharmacy", "therapy", "coordination")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
PAYLOAD_VERSION = {"pharmacy": 2}  # pharmacy's events are v2 (codes); the others v1
SNAPSHOT = {"version": "2026.1", "known": True, "atc": "N06AB06", "therapeutic_class": "N06AB", "opioid": False,
            "benzodiazepine": False, "serotonergic": True, "qt_prolonging": False, "cns_depressant": False,
            "max_daily_dose": {"value": 200, "unit": "mg"}}


def phq9_band(total: int) -> str:
    return next(band for lower, band in ((20, "severe"), (15, "moderately_severe"), (10, "moderate"),
                                         (5, "mild"), (0, "minimal")) if total >= lower)


@dataclass
class Stream:
    service: str
    stream_id: str
    patient_id: str
    clinic_id: str
    events: list[Envelope] = field(default_factory=list)

    def add(self, name: str, at: datetime, **payload: Any) -> None:
        self.events.append(Envelope(
            id=uuid.uuid4(), source=f"/carecoord/{self.service}",
            type=event_type(self.service, name, PAYLOAD_VERSION.get(self.service, 1)),
            subject=self.patient_id, time=at, clinic_id=self.clinic_id, stream_id=self.stream_id,
            payload={"patient_id": self.patient_id, "occurred_at": at.isoformat(), **payload},
            stream_version=len(self.events) + 1, recorded_at=T0 + timedelta(days=120), actor="staff-1"))


def patient_streams(patient_id: str, clinic_id: str, rng: random.Random) -> list[Stream]:
    """Three months of one patient, as the four services publish them, each stream in order."""
    day = lambda n, h=9: T0 + timedelta(days=n, hours=h - 9, minutes=rng.randrange(60))  # noqa: E731
    record = Stream("assessment", f"patient-{patient_id}", patient_id, clinic_id)
    record.add("PatientEnrolled", day(0), clinic_id=clinic_id, age_band="40-49",
               preferences={"language": None, "prefers_non_pharmacological_first": False})
    for week, total in ((0, 18), (4, 15), (8, 11), (12, 7)):
        items = [min(3, max(0, total // 9 + (1 if k < total % 9 else 0))) for k in range(9)]
        record.add("AssessmentRecorded", day(7 * week + 1), assessment_id=str(uuid.uuid4()), instrument="PHQ-9",
                   item_scores=items, total=sum(items), band=phq9_band(sum(items)), max_total=27, loinc="44261-6",
                   safety_item_positive=False)
    record.add("LifeCircumstanceChanged", day(40), life_event_id=str(uuid.uuid4()), category="housing",
               direction="worsened", impact="high")
    mid = str(uuid.uuid4())
    course = Stream("pharmacy", f"medication-{mid}", patient_id, clinic_id)
    course.add("MedicationStarted", day(2, 10), medication_id=mid, drug=SERTRALINE, dose=50, unit="mg",
               schedule={"times_per_day": 1, "as_needed": False}, route="oral", indication=None,
               prescriber_id="staff-1", formulary=SNAPSHOT, override_reason=None)
    for n, (before, after) in enumerate(((50, 100), (100, 150))):
        course.add("DoseAdjusted", day(30 + 20 * n, 10), medication_id=mid, previous_dose=before, dose=after,
                   unit="mg", direction="increase", reason="titration", prescriber_id="staff-1", daily_dose=after)
    eid = str(uuid.uuid4())
    episode = Stream("therapy", f"episode-{eid}", patient_id, clinic_id)
    episode.add("TherapyEpisodeStarted", day(3, 14), episode_id=eid, modality="cbt", care_step=2,
                therapist_id="staff-2", setting="individual")
    for k in range(5):
        sid = str(uuid.uuid4())
        episode.add("SessionScheduled", day(3 + 7 * k, 15), episode_id=eid, session_id=sid,
                    scheduled_at=day(10 + 7 * k, 14).isoformat())
        if k == 2:
            episode.add("SessionMissed", day(10 + 7 * k, 14), episode_id=eid, session_id=sid)
        else:
            episode.add("SessionCompleted", day(10 + 7 * k, 14), episode_id=eid, session_id=sid, duration_min=50,
                        techniques=["thought_record"], homework=["activity_scheduling"])
    episode.add("CareStepChanged", day(50, 16), episode_id=eid, from_step=2, to_step=3, reason="non_response")
    plan = Stream("coordination", f"care-plan-{patient_id}", patient_id, clinic_id)
    plan.add("EscalationDecided", day(29, 11), escalation_id=str(uuid.uuid4()), target="both",
             reason="partial_response", due_by=day(43, 11).isoformat(), decided_by="staff-3")
    plan.add("CarePlanReviewed", day(45, 11), review_id=str(uuid.uuid4()), reason="life_change",
             goals=["sleep_improvement"], reviewed_by="staff-3")
    return [record, course, episode, plan]


def interleave(streams: list[Stream], rng: random.Random) -> Iterator[Envelope]:
    """Every event once, streams mixed at random, each stream's own order kept (as the
    services' relays publish them side by side)."""
    queues = [list(s.events) for s in streams if s.events]
    while queues:
        k = rng.randrange(len(queues))
        yield queues[k].pop(0)
        if not queues[k]:
            queues.pop(k)


def synthetic_history(patients: int, seed: int = 1, clinic_id: str = "clinic-a") -> list[Envelope]:
    rng = random.Random(seed)
    streams = [s for p in range(patients)
               for s in patient_streams(str(uuid.UUID(int=rng.getrandbits(128))), clinic_id, rng)]
    return list(interleave(streams, rng))


async def publish(bootstrap: str, topics: dict[str, str], events: list[Envelope]) -> None:
    """Every event to its service's topic, in the interleaved order given, acks awaited."""
    producer = raw_producer(bootstrap)
    await producer.start()
    try:
        futures = []
        for e in events:
            key, value, headers = ce.encode(e)
            futures.append(await producer.send(topics[e.service], value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def empty_read_models(pool: asyncpg.Pool) -> None:
    """Every table but the migration record: the next round projects from scratch."""
    tables = [r["tablename"] for r in await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")]
    if tables:
        await pool.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))


async def bench_coordination(env: BenchEnv) -> list[Comparison]:
    s = env.sizes
    patients = s.coordination_patients
    events = synthetic_history(patients)
    n = len(events)
    topics = {service: env.topic(f"coord-{service}") for service in SOURCES}
    await ensure_topics(env.kafka, list(topics.values()) + [f"{t}.dlq" for t in topics.values()])
    await publish(env.kafka, topics, events)
    progress(f"coordination: {n:,} events of {patients:,} patients on 4 topics")
    pool = await create_pool(env.pg_url, env.schema("coord"), size=4)

    def consumer(group: str) -> StampedConsumer:
        return StampedConsumer(*topics.values(), **client_security(), bootstrap_servers=env.kafka, group_id=group,
                               **CONSUMER_OPTIONS)

    try:
        await migrate_read_models(pool)

        flagging = Flagging(PostgresEventStore(pool), env.topic("coord-flags"), load_config())

        async def ours(r: int, rules: bool = False) -> float:
            await empty_read_models(pool)
            group = f"bench-{env.run_id}-coord-{'rules-' if rules else ''}{r}-{uuid.uuid4().hex[:6]}"
            stamped = consumer(group)
            done, stop = asyncio.Event(), asyncio.Event()
            t_end = 0.0

            async def on_batch(size: int) -> None:
                nonlocal t_end
                if runner.stats.applied >= n and not done.is_set():
                    t_end = time.perf_counter()
                    done.set()
                    stop.set()

            runner = ProjectionRunner(pool, env.kafka, group, list(topics.values()),
                                      CoordinationProjection(registry(), flagging if rules else None),
                                      consumer_factory=lambda: stamped, on_batch=on_batch)
            if r == 0:
                await runner.migrate()
            task = asyncio.create_task(runner.run(stop))
            try:
                await asyncio.wait_for(done.wait(), TIMEOUT)
            finally:
                stop.set()
                await task
            if runner.stats.dead_lettered or stamped.first_batch_at is None:
                raise RuntimeError(f"coordination projection dead-lettered {runner.stats.dead_lettered} events")
            return rate(n, t_end - stamped.first_batch_at)

        async def raw(r: int) -> float:
            c = consumer(f"bench-{env.run_id}-coord-raw-{r}-{uuid.uuid4().hex[:6]}")
            await c.start()
            seen = 0
            try:
                async with asyncio.timeout(TIMEOUT):
                    while seen < n:
                        batches = await c.getmany(timeout_ms=200, max_records=1000)
                        seen += sum(len(recs) for recs in batches.values())
                t_end = time.perf_counter()
            finally:
                await c.stop()
            assert c.first_batch_at is not None
            return rate(seen, t_end - c.first_batch_at)

        async def with_rules(r: int) -> float:
            return await ours(r, rules=True)

        res = await interleaved("coordination", [("ours", ours), ("rules", with_rules), ("raw", raw)], s.rounds)
        flags = int(await pool.fetchval("SELECT count(*) FROM flags"))
    finally:
        await pool.close()
    progress(f"coordination: the rules raised {flags:,} flags in the last round")
    return [Comparison(f"coordination 4 topics -> timeline + summary ({n:,} events)", res["ours"],
                       "aiokafka getmany", res["raw"], min_ratio=0.3,
                       goal="projection into coordination's timeline and summary >= 0.3x raw consume"),
            Comparison(f"coordination with every rule on ({n:,} events)", res["rules"], "without rules",
                       res["ours"], min_ratio=0.5)]
