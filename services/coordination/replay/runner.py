"""The projection runner a replay uses: the live one, reading the four input topics from offset 0
in a consumer group of its own, in larger batches, and counting (not dead-lettering again) what
it cannot apply."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import asyncpg

from services.coordination.app import SOURCES
from services.coordination.projection.store import CoordinationProjection
from services.coordination.settings import CoordinationSettings
from shared.projection import ProjectionRunner
from shared.projection.items import Item

# Larger batches than live (1,000): per-batch costs (tracking, stream positions, offsets, one
# round trip per statement) are spread over more events; the whole batch is one transaction.
BATCH_RECORDS = int(os.environ.get("CARECOORD_REPLAY_BATCH", "5000"))


class ReplayRunner(ProjectionRunner):
    """A record the projection refuses is only counted: the live projection dead-lettered it
    already, and a second copy on the dead-letter topic would be replayed twice."""

    async def _dead_letter(self, item: Item) -> None:
        self.stats.dead_lettered += 1


def topics(s: CoordinationSettings) -> list[str]:
    return [*(s.topic(source) for source in SOURCES), s.topic()]


def replay_runner(s: CoordinationSettings, pool: asyncpg.Pool, group: str, projection: CoordinationProjection,
                  on_batch: Callable[[int], Awaitable[None]] | None = None) -> ReplayRunner:
    return ReplayRunner(pool=pool, bootstrap_servers=s.kafka_bootstrap_servers, group_id=group, topics=topics(s),
                        projection=projection, partitions=s.topic_partitions, replication=s.topic_replication_factor,
                        min_insync=s.topic_min_insync_replicas, on_batch=on_batch, max_records=BATCH_RECORDS)
