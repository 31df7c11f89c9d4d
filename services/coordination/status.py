"""``GET /v1/projection/status``: how far the projection has read each input partition."""

from __future__ import annotations

import contextlib
from typing import Annotated

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends

from services.coordination.deps import Context
from services.coordination.schemas import PartitionStatus, ProjectionStatus
from shared.auth import Principal, Role, require_roles
from shared.kafka.security import client_security

router = APIRouter(prefix="/v1/projection", tags=["operations"])

Operator = Annotated[Principal, Depends(require_roles(Role.COORDINATOR, Role.ADMIN))]


async def partition_offsets(bootstrap: str, group: str, topics: list[str]
                            ) -> list[tuple[TopicPartition, int | None, int]]:
    """(partition, the group's committed offset or None, the end offset) for every
    partition of ``topics``; the end is the last stable offset, which is what a
    read-committed consumer can reach."""
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(**client_security(),
                                bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")
    await admin.start()
    try:
        await consumer.start()
        described = await admin.describe_topics(topics)
        partitions = sorted(
            (TopicPartition(d["topic"], p["partition"]) for d in described if not d.get("error_code")
             for p in d["partitions"]), key=lambda tp: (tp.topic, tp.partition))
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        ends = await consumer.end_offsets(partitions) if partitions else {}
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        await admin.close()
    out = []
    for tp in partitions:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else None
        out.append((tp, offset, ends[tp]))
    return out


@router.get("/status", response_model=ProjectionStatus,
            summary="Per input topic and partition: committed offset, end offset, lag")
async def projection_status(ctx: Context, principal: Operator) -> ProjectionStatus:
    runner = ctx.projection
    offsets = await partition_offsets(runner.bootstrap_servers, runner.group_id, list(runner.topics))
    return ProjectionStatus(
        group=runner.group_id,
        partitions=[PartitionStatus(topic=tp.topic, partition=tp.partition, committed=committed, end=end,
                                    lag=end - (committed or 0)) for tp, committed, end in offsets],
        applied=runner.stats.applied, skipped=runner.stats.skipped, dead_lettered=runner.stats.dead_lettered)
