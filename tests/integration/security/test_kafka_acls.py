"""Kafka refuses anonymous clients and keeps each service to its own topics: pharmacy's
credentials cannot write assessment's history (before, the broker took anything from anyone).

The local stack's broker requires SCRAM; the suite speaks as its admin. Here the bindings of
``shared.kafka.acls`` are created for this test's namespace and tried with each service's own
credentials (``CARECOORD_KAFKA_USERS_DIR``, one file per user)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ClusterAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from shared.kafka.acls import dashboard_acls, service_acls, topic
from shared.kafka.clients import ensure_topics
from shared.kafka.security import client_security


def _as(user: str, password: str | None = None) -> dict[str, Any]:
    users = os.environ.get("CARECOORD_KAFKA_USERS_DIR")
    if not users:
        pytest.fail("the broker's users are unknown: run the suite with `make test` (CARECOORD_KAFKA_USERS_DIR)")
    secret = password if password is not None else (Path(users) / user).read_text().strip()
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": user, "sasl_plain_password": secret}


async def _send(bootstrap: str, credentials: dict[str, Any], to: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                request_timeout_ms=5000, **credentials)
    try:
        await asyncio.wait_for(producer.start(), 30)
        await asyncio.wait_for(producer.send_and_wait(to, b"{}", key=b"patient-1"), 30)
    finally:
        await producer.stop()


async def _read_one(bootstrap: str, credentials: dict[str, Any], source: str, group: str) -> bytes:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, **credentials)
    try:
        await asyncio.wait_for(consumer.start(), 30)
        record = await asyncio.wait_for(consumer.getone(), 30)
        return bytes(record.value or b"")
    finally:
        await consumer.stop()


@pytest.fixture
async def namespaced_acls(kafka_bootstrap: str, namespace: str) -> str:
    """This namespace's topics, with assessment's, pharmacy's and the dashboard's bindings."""
    await ensure_topics(kafka_bootstrap, [topic(namespace, s) for s in ("assessment", "pharmacy", "therapy")]
                        + [topic(namespace, "coordination", "flags"), topic(namespace, "assessment") + ".dlq"],
                        partitions=1)
    from shared.kafka.acls import apply_acls

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, **client_security())
    await admin.start()
    try:
        await apply_acls(admin, [*service_acls("assessment", namespace), *service_acls("pharmacy", namespace),
                                 *dashboard_acls(namespace)])
    finally:
        await admin.close()
    return namespace


async def test_an_anonymous_client_and_a_wrong_password_cannot_connect(kafka_bootstrap: str) -> None:
    anonymous = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    with pytest.raises((KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(anonymous.start(), 20)
    await anonymous.stop()
    wrong = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000,
                             **_as("pharmacy", password="not-" + uuid.uuid4().hex))
    with pytest.raises((KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(wrong.start(), 20)
    await wrong.stop()


async def test_each_service_writes_only_its_own_topic_and_reads_only_what_it_projects(
        kafka_bootstrap: str, namespaced_acls: str) -> None:
    ns = namespaced_acls
    pharmacy, assessment, dashboard = _as("pharmacy"), _as("assessment"), _as("dashboard")

    # The owners write their own topics (so the credentials and bindings do work) …
    await _send(kafka_bootstrap, assessment, topic(ns, "assessment"))
    await _send(kafka_bootstrap, pharmacy, topic(ns, "pharmacy"))
    await _send(kafka_bootstrap, pharmacy, topic(ns, "assessment") + ".dlq")  # a dead letter of what it reads
    # … and nobody writes another's.
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(kafka_bootstrap, pharmacy, topic(ns, "assessment"))
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(kafka_bootstrap, assessment, topic(ns, "pharmacy"))
    # (a principal allowed to write nowhere is refused even an idempotent producer id)
    with pytest.raises((TopicAuthorizationFailedError, ClusterAuthorizationFailedError)):
        await _send(kafka_bootstrap, dashboard, topic(ns, "coordination", "flags"))

    # Pharmacy reads assessment's topic (its patient directory) in a group of its own …
    assert await _read_one(kafka_bootstrap, pharmacy, topic(ns, "assessment"), f"{ns}pharmacy.patient-directory") \
        == b"{}"
    # … but not in someone else's group, and not a topic it does not project.
    with pytest.raises(KafkaError):
        await _read_one(kafka_bootstrap, pharmacy, topic(ns, "assessment"), f"{ns}coordination")
    with pytest.raises(KafkaError):
        await _read_one(kafka_bootstrap, pharmacy, topic(ns, "therapy"), f"{ns}pharmacy.patient-directory")
    with pytest.raises(KafkaError):
        await _read_one(kafka_bootstrap, dashboard, topic(ns, "pharmacy"), f"{ns}dashboard")
