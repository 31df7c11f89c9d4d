"""Topic administration against the real broker: topics come out as asked, a second call
is harmless, and a refused topic says why at once instead of timing out."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka.clients import TopicCreationError, ensure_topics
from shared.kafka.security import client_security


async def test_topics_are_created_with_partitions_and_unlimited_retention(
        kafka_bootstrap: str, namespace: str) -> None:
    topics = [f"{namespace}carecoord.a.events.v1", f"{namespace}carecoord.b.events.v1"]
    await ensure_topics(kafka_bootstrap, topics, partitions=4)
    await ensure_topics(kafka_bootstrap, topics, partitions=4)  # again: nothing to do

    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        assert {t["topic"]: len(t["partitions"]) for t in described} == dict.fromkeys(topics, 4)
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics[0])])
        entries = {c[0]: c[1] for c in configs[0].resources[0][4]}
        assert entries["retention.ms"] == "-1" and entries["retention.bytes"] == "-1"
    finally:
        await admin.close()


async def test_a_refused_topic_fails_fast_with_the_brokers_reason(
        kafka_bootstrap: str, namespace: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(TopicCreationError, match="invalid"):
        await asyncio.wait_for(
            ensure_topics(kafka_bootstrap, [f"{namespace}not a valid name!"], timeout=10), 15)
    assert time.monotonic() - t0 < 5
