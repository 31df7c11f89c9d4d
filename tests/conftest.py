"""Fixtures for tests against real infrastructure.

Kafka and PostgreSQL come from the environment the local stack exports (``make test``
sets them). Where they are unset and a Docker engine answers, testcontainers starts them.
Otherwise a test that needs them fails and says how to start the stack. Each test gets its
own database schema and its own topic namespace, so tests never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.db import create_pool, plain_dsn
from shared.kafka.security import client_security

# Tests that stop or freeze the shared broker, or load the machine with a cluster of their own,
# are named zz_ (so that they sort last). `make test` runs them after the rest, alone.
ALONE = ("zz_", "test_zz")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "alone: runs after every other test with nothing beside it (make test's "
                                       "second pass): it stops or freezes the shared broker, or loads the machine")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts if item.path.is_relative_to(config.rootpath) else ()
        if any(part.startswith(ALONE) for part in parts):
            item.add_marker(pytest.mark.alone)


HOW_TO = ("needs Kafka and PostgreSQL: run the suite with `make test` (it starts the local "
          "stack), or export CARECOORD_KAFKA_BOOTSTRAP_SERVERS and CARECOORD_PG_URL, or make a "
          "Docker engine available for testcontainers")


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    env = os.environ.get("CARECOORD_KAFKA_BOOTSTRAP_SERVERS")
    if env:
        yield env
        return
    if not _docker_available():
        pytest.fail(HOW_TO, pytrace=False)
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    env = os.environ.get("CARECOORD_PG_URL")
    if env:
        yield env
        return
    if not _docker_available():
        pytest.fail(HOW_TO, pytrace=False)
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver=None) as pg:
        yield pg.get_connection_url()


@pytest.fixture
async def schema(pg_url: str) -> AsyncIterator[str]:
    """A fresh schema for this test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    conn = await asyncpg.connect(plain_dsn(pg_url))
    try:
        # Services under test get "<name>_<service>" schemas of their own; drop those too.
        schemas = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{name}%")
        for row in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{row["nspname"]}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def pool(pg_url: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(pg_url, schema, size=10)
    yield p
    await p.close()


@pytest.fixture
async def namespace(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A topic prefix of this test's own; its topics are deleted afterwards, so the broker
    does not carry every past test's partitions into its next start."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    yield prefix
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=kafka_bootstrap)
    try:
        await admin.start()
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    except Exception:  # a test that stopped the broker may leave it starting; not a failure
        pass
    finally:
        await admin.close()
