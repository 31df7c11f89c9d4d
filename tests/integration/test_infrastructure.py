"""What the project sets up on the real broker and database: topics that keep the history
for ever with the replication guard the settings ask for, and a database schema whose named
constraints are the ones the code relies on."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from alembic.script import ScriptDirectory

from shared.kafka.clients import ensure_topics
from shared.kafka.security import client_security
from shared.migrations import config, upgrade


async def test_topics_keep_everything_and_carry_the_insync_setting(kafka_bootstrap: str, namespace: str) -> None:
    topic = f"{namespace}carecoord.infra.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3, replication=1, min_insync=1)
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)  # a second instance: no error
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    assert len(described[0]["partitions"]) == 3
    entries = {name: value for name, value, *_ in configs[0].resources[0][4]}
    assert entries["retention.ms"] == "-1" and entries["retention.bytes"] == "-1"
    assert entries["min.insync.replicas"] == "1"


async def test_migrations_create_the_named_constraints_the_code_refers_to(pg_url: str, schema: str,
                                                                          pool) -> None:  # type: ignore[no-untyped-def]
    await upgrade(pg_url, schema, "assessment")
    await upgrade(pg_url, schema, "assessment")  # idempotent: a second instance finds nothing to do
    names = {r["conname"] for r in await pool.fetch(
        "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = $1", schema)}
    # shared.eventstore.postgres and shared.idempotency branch on these names.
    assert {"events_event_id_key", "events_stream_id_stream_version_key", "idempotency_keys_pkey",
            "patient_identity_pkey"} <= names
    versions = {r["version_num"] for r in await pool.fetch("SELECT version_num FROM alembic_version")}
    script = ScriptDirectory.from_config(config())
    assert versions == {script.get_revision("kernel@head").revision, script.get_revision("assessment@head").revision}
