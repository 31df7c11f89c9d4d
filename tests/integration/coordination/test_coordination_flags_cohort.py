"""Risk flags end to end on the real stack: a cohort written through the HTTP APIs of the four
services raises, for each rule archetype, exactly its flag (raised_at to the minute, in event
time) and nothing for the controls; every flag change is an event on
carecoord.coordination.flags.v1 with the CloudEvents headers (ce_clinicid included); and
replaying every input topic from offset 0 into empty read models gives the same flags (ids,
raised_at and all: a checksum)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from coordination_support import (
    Stack,
    clinical_stack,
    flags_checksum,
    input_topics,
    projecting,
    until_caught_up,
    wait_for_entries,
)
from flag_cohort import ARCHETYPES, CONTROLS, Expected, write_cohort

from shared.db import create_pool
from tests.support.services import read_topic


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace, with_therapy=True) as s:
        yield s


def minute(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment).replace(second=0, microsecond=0) if moment else None


def seen(flag: dict[str, Any]) -> Expected:
    return Expected(flag["rule_id"], flag["severity"], minute(flag["raised_at"]),  # type: ignore[arg-type]
                    minute(flag["resolved_at"]))


async def test_a_cohort_raises_each_archetypes_flag_in_event_time_publishes_it_and_a_replay_agrees(
        stack: Stack, pg_url: str, schema: str, namespace: str) -> None:
    cohort = await write_cohort(stack)
    await wait_for_entries(stack.pool, {c.patient_id: len(c.expected) + 1 for c, _ in cohort.values()}, timeout=60)
    flags: dict[str, list[dict[str, Any]]] = {}
    for name, (chart, expected) in cohort.items():
        resp = await stack.coordination.get(f"/v1/patients/{chart.patient_id}/flags", headers=chart.headers)
        assert resp.status_code == 200, resp.text
        flags[name] = resp.json()
        current = [f for f in flags[name] if not f["withdrawn"]]
        assert [seen(f) for f in current] == expected, name
        assert all(f["status"] == ("resolved" if f["resolved_at"] else "open") for f in current), name
        # A flag raised on a prefix of the history and withdrawn by a later (backdated) event stays
        # on record, resolved; only the disengagement archetype's episode start does that here.
        assert all(f["status"] == "resolved" for f in flags[name] if f["withdrawn"]), name
    for name in CONTROLS:
        assert flags[name] == [], f"the control {name} raised {flags[name]}"
    assert {name for name in ARCHETYPES} == {r.rule_id for _, e in cohort.values() for r in e}

    await check_flag_topic(stack, flags)
    await check_replay(stack, pg_url, schema, namespace, flags)


async def check_flag_topic(stack: Stack, flags: dict[str, list[dict[str, Any]]]) -> None:
    changes = int(await stack.pool.fetchval("SELECT count(*) FROM flag_changes"))
    records = await read_topic(stack.kafka, stack.settings.topic(kind="flags"), at_least=changes, timeout=30)
    by_id = {dict(r.headers)["ce_id"]: r for r in records}  # the relay may repeat one: consumers dedupe by id
    assert len(by_id) == changes, "one event per flag change"
    raised: dict[str, set[str]] = {}
    for r in by_id.values():
        h = {k: v.decode() for k, v in r.headers}
        payload = json.loads(r.value)
        assert (h["ce_specversion"], h["ce_source"], h["content-type"]) == (
            "1.0", "/carecoord/coordination", "application/json")
        assert h["ce_type"] in ("carecoord.coordination.RiskFlagRaised.v1",
                                "carecoord.coordination.RiskFlagResolved.v1")
        assert r.key.decode() == h["ce_subject"] == h["ce_partitionkey"] == payload["patient_id"]
        assert h["ce_clinicid"] == "clinic-a" and h["ce_streamid"] == f"flags-{payload['patient_id']}"
        moment = payload["raised_at"] if h["ce_type"].endswith("Raised.v1") else payload["resolved_at"]
        assert datetime.fromisoformat(h["ce_time"]) == datetime.fromisoformat(moment)  # event time
        assert "Müller" not in r.value.decode() and "note" not in payload
        if h["ce_type"].endswith("Raised.v1"):
            raised.setdefault(payload["patient_id"], set()).add(payload["flag_id"])
    for rows in flags.values():
        for f in rows:
            assert f["flag_id"] in raised.get(f["patient_id"], set()), "every flag was announced on the topic"


async def check_replay(stack: Stack, pg_url: str, schema: str, namespace: str,
                       flags: dict[str, list[dict[str, Any]]]) -> None:
    live = await flags_checksum(stack.pool)
    assert live.endswith(f":{sum(1 for rows in flags.values() for f in rows if not f['withdrawn'])}")
    rebuilt = await create_pool(pg_url, f"{schema}_replay", size=4)
    try:
        async with projecting(rebuilt, stack.kafka, f"replay-{uuid.uuid4().hex[:8]}", input_topics(stack.settings),
                              flags_topic=f"{namespace}replay.flags") as replay:
            await until_caught_up(replay)
        assert replay.stats.dead_lettered == 0
        assert await flags_checksum(rebuilt) == live, "a replay from offset 0 gives other flags"
        again = {(r["flag_id"], r["raised_at"]) for r in await rebuilt.fetch(
            "SELECT flag_id, raised_at FROM flags WHERE NOT withdrawn")}
        assert again == {(f["flag_id"], datetime.fromisoformat(f["raised_at"])) for rows in flags.values()
                         for f in rows if not f["withdrawn"]}
    finally:
        await rebuilt.close()
