"""Producer, consumer and topic factories with the settings the kernel relies on."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.kafka.security import client_security

log = logging.getLogger(__name__)


class TopicCreationError(RuntimeError):
    """The broker refused to create a topic (invalid name, too many replicas, …)."""


def make_producer(bootstrap: str, **overrides: object) -> AIOKafkaProducer:
    """Idempotent, acks=all: an acknowledged record is on every in-sync replica and a
    retried send cannot duplicate or reorder records within a partition."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 15000,
        "compression_type": None,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options, **client_security())  # type: ignore[arg-type]


def make_consumer(bootstrap: str, group_id: str, *topics: str, **overrides: object) -> AIOKafkaConsumer:
    """Manual commits only: offsets are committed after the database has committed."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 1000,
        "fetch_max_wait_ms": 100,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options, **client_security())  # type: ignore[arg-type]


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int = 6,
                        replication: int = 1, timeout: float = 30.0, min_insync: int = 1) -> None:
    """Create missing topics with unlimited retention (they are the replayable history),
    ``replication`` replicas and ``min_insync`` of them needed to acknowledge a write."""
    admin = AIOKafkaAdminClient(**client_security(),
                                bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [NewTopic(name=t, num_partitions=partitions, replication_factor=replication,
                        topic_configs={"retention.ms": "-1", "retention.bytes": "-1",
                                       "min.insync.replicas": str(min_insync)})
               for t in missing]
        try:
            response = await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass  # another instance created it between list and create
        else:
            # The broker answers per topic instead of failing the request; without this a
            # refused topic would surface only as a metadata timeout, its reason lost.
            refused = [(err[0], err[1], err[2] if len(err) > 2 else None)
                       for err in getattr(response, "topic_errors", [])
                       if err[1] not in (0, TopicAlreadyExistsError.errno)]
            if refused:
                raise TopicCreationError("; ".join(f"{name}: error {code} {reason or ''}".strip()
                                                   for name, code, reason in refused))
        await _wait_for_metadata(admin, missing, timeout)
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, topics: list[str], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        known = set(await admin.list_topics())
        if all(t in known for t in topics):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics not visible after {timeout:.0f} s: {topics}")
        await asyncio.sleep(0.1)


async def kafka_ready(bootstrap: str, timeout: float = 3.0) -> bool:
    """True when a metadata request lists at least one broker."""
    admin = AIOKafkaAdminClient(**client_security(),
                                bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        return bool(cluster.get("brokers"))
    except Exception:  # readiness answers yes/no; the reason is logged by the caller
        return False
    finally:
        await admin.close()
