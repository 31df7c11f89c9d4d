"""The coordination read models' schema: Alembic revisions in versions/ (a branch of the
service's own on top of the kernel's), kept in step with tables.py, which the queries use;
an integration test compares the two."""

from __future__ import annotations

import asyncpg

from shared.migrations import upgrade_pool


async def migrate_read_models(pool: asyncpg.Pool) -> None:
    """The kernel's and coordination's tables in this pool's schema (the service itself
    migrates when it starts; tests and benches that build the projection alone call this)."""
    await upgrade_pool(pool, "coordination")
