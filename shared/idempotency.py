"""``Idempotency-Key`` for POSTs: a retry returns the first result and appends nothing.

The first response is stored in the same transaction as the events it reports (through the
event store's ``within`` hook), so there is no window where the events exist and the record
does not. Two concurrent requests with one key both decide, but only one commits: the other's
insert of the key waits on the first, fails on the primary key, and its whole transaction
(its events included) rolls back; it then answers with the stored response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse

from shared.errors import DomainError, RuleViolation
from shared.handler import Hook, Outcome
from shared.migrations import upgrade_pool

HEADER = "Idempotency-Key"

Command = Callable[[Hook | None], Awaitable[Outcome[Any]]]
ToBody = Callable[[Outcome[Any]], dict[str, Any]]


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def chain(*writes: Hook | None) -> Hook | None:
    """Several same-transaction writes as one ``within`` hook."""
    present = [w for w in writes if w is not None]
    if not present:
        return None

    async def run(conn: asyncpg.Connection, outcome: Outcome[Any]) -> None:
        for write in present:
            await write(conn, outcome)

    return run


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def migrate(self) -> None:
        """The kernel's tables in this pool's schema (services migrate when they start)."""
        await upgrade_pool(self.pool)

    async def lookup(self, principal: str, key: str, fingerprint: str) -> StoredResponse | None:
        row = await self.pool.fetchrow(
            "SELECT fingerprint, status_code, response FROM idempotency_keys "
            "WHERE principal = $1 AND key = $2", principal, key)
        if row is None:
            return None
        if row["fingerprint"] != fingerprint:
            raise RuleViolation("this key was used before with a different request",
                                field=f"header.{HEADER}")
        return StoredResponse(row["status_code"], json.loads(row["response"]))

    def recorder(self, principal: str, key: str, fingerprint: str, status_code: int,
                 to_body: ToBody) -> Hook:
        async def write(conn: asyncpg.Connection, outcome: Outcome[Any]) -> None:
            result = outcome.result
            await conn.execute(
                "INSERT INTO idempotency_keys (principal, key, subject, fingerprint, status_code, "
                "response) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                principal, key, result.events[0].subject if result.events else None,
                fingerprint, status_code, json.dumps(to_body(outcome), default=str))

        return write


async def fingerprint(request: Request) -> str:
    body = await request.body()
    return hashlib.sha256(request.method.encode() + b" " + request.url.path.encode() + b"\n" + body).hexdigest()


async def run_idempotent(
    request: Request,
    store: IdempotencyStore,
    principal: str,
    command: Command,
    to_body: ToBody,
    status_code: int = 201,
) -> JSONResponse:
    """Run ``command`` once per (principal, Idempotency-Key); replay the stored answer."""
    key = request.headers.get(HEADER)
    if not key:
        result = await command(None)
        return JSONResponse(to_body(result), status_code=status_code)
    if len(key) > 200:
        raise RuleViolation("must be at most 200 characters", field=f"header.{HEADER}")
    fp = await fingerprint(request)
    stored = await store.lookup(principal, key, fp)
    if stored is None:
        try:
            result = await command(store.recorder(principal, key, fp, status_code, to_body))
            return JSONResponse(to_body(result), status_code=status_code)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "idempotency_keys_pkey":
                raise
            stored = await store.lookup(principal, key, fp)
            assert stored is not None
        except DomainError:
            # A concurrent retry with this key may have committed while this one decided:
            # this one then met the stream after the first's change (a version conflict, a
            # dose that is now the current one, a course already stopped). The client asked
            # once; it gets the first answer, not the refusal of its own echo.
            stored = await store.lookup(principal, key, fp)
            if stored is None:
                raise
    return JSONResponse(stored.body, status_code=stored.status_code,
                        headers={"Idempotent-Replayed": "true"})
