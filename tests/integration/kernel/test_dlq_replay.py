"""``carecoord dlq replay``: an event a projection refused is dead-lettered (and its stream's
later event held back behind it); once the cause is fixed the command puts it back, both
apply in order, another group's dead letter is left alone, and a second run re-publishes
nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
from kernel_support import consume, envelopes, header, new_group, registry, running, topic_name, wait_for

from shared.cli import main
from shared.envelope import Envelope
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_producer
from shared.projection import ProjectionRunner


class Picky:
    """Refuses the events whose ``n`` is in ``refused`` until told otherwise (a bug fixed)."""

    name = "picky"

    def __init__(self, refused: set[int]) -> None:
        self.refused = refused

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            if env.payload["n"] in self.refused:
                raise ValueError("refused")
            await conn.execute("INSERT INTO picked (stream_id, n) VALUES ($1, $2)", env.stream_id, env.payload["n"])


async def _rows(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    return [(r["stream_id"], r["n"]) for r in await pool.fetch("SELECT stream_id, n FROM picked ORDER BY row_id")]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["dlq", "replay", *args]) == 0
    return capsys.readouterr().out


async def test_replay_puts_dead_letters_back_once(pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    await pool.execute("CREATE TABLE picked (row_id bigserial PRIMARY KEY, stream_id text NOT NULL, n int NOT NULL)")
    a = [replace(e, stream_version=i + 1, recorded_at=datetime.now(UTC)) for i, e in enumerate(envelopes("a", 3))]
    b1 = replace(envelopes("b", 1, start=10)[0], stream_version=1, recorded_at=datetime.now(UTC))
    stranger = replace(envelopes("c", 1, start=20)[0], stream_version=1, recorded_at=datetime.now(UTC))
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        for env in (*a, b1):
            key, value, headers = ce.encode(env)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        # Another consumer group's dead letter on the same topic: not ours to replay.
        key, value, headers = ce.encode(stranger)
        await producer.send_and_wait(f"{topic}.dlq", value=value, key=key,
                                     headers=[*headers, ("dlq_consumer_group", b"another-group")])
    finally:
        await producer.stop()

    group = new_group()
    projection = Picky(refused={2})
    runner = ProjectionRunner(pool=pool, bootstrap_servers=kafka_bootstrap, group_id=group, topics=[topic],
                              projection=projection, registry=registry(), max_backoff=0.5)
    await runner.migrate()
    async with running(runner.run) as task:
        async def set_aside() -> bool:
            assert not task.done(), "the runner stopped"
            return runner.stats.dead_lettered == 1 and ("b", 10) in await _rows(pool)
        await wait_for(set_aside, 20, "the refused event to be dead-lettered")
        assert await _rows(pool) == [("a", 1), ("b", 10)], "an event after the refused one was applied"
        assert runner.health.held_back == 1

        projection.refused.clear()  # the fix is deployed
        out = await asyncio.to_thread(_cli, capsys, "--topic", topic, "--group", group,
                                      "--bootstrap", kafka_bootstrap)
        assert "re-published 1 of 2 dead letters" in out, out

        async def replayed() -> bool:
            return len(await _rows(pool)) == 4
        await wait_for(replayed, 20, "the replayed event and the one held back behind it")
        assert runner.health.held_back == 0

        again = await asyncio.to_thread(_cli, capsys, "--topic", topic, "--group", group,
                                        "--bootstrap", kafka_bootstrap)
        assert "re-published 0 of 0 dead letters" in again, again
        await asyncio.sleep(0.5)

    assert await _rows(pool) == [("a", 1), ("b", 10), ("a", 2), ("a", 3)]
    assert runner.stats.dead_lettered == 1
    records = await consume(kafka_bootstrap, topic, 5)
    assert len(records) == 5, "the replay re-published more than the one dead letter"
    back = records[-1]
    assert header(back, "ce_id") == str(a[1].id) and back.key == b"a"
    assert not [k for k, _ in back.headers if k.startswith("dlq_")], "dead-letter headers went back on the topic"
