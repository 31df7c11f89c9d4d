"""Which failures are the environment's (retry later) and which are a message's (poison).

A consumer that mistakes an environmental failure for a bad message dead-letters good
events and commits past them: a patient enrolled during a read-only failover would be
unknown to every other service for ever. So the rule errs towards "environment": anything
the database says about its own state, resources or the session is retried, never blamed
on the event being applied.

PostgreSQL classes (SQLSTATE's first two characters) counted as environmental:

- 08 connection exception · 25 invalid transaction state (25006: read-only transaction)
- 40 transaction rollback (serialization failure, deadlock) · 53 insufficient resources
  (disk full, out of memory, too many connections) · 55 object not in prerequisite state
  (55P03: lock timeout) · 57 operator intervention (57014: statement timeout, shutdown)
- 58 system error (I/O error)

plus two codes a deploy causes rather than a message: 42P01 (undefined table) and 42703
(undefined column), seen while a new version runs before its migration (or the reverse).
"""

from __future__ import annotations

import asyncio

import asyncpg

ENVIRONMENTAL_CLASSES = frozenset({"08", "25", "40", "53", "55", "57", "58"})
ENVIRONMENTAL_CODES = frozenset({"42P01", "42703"})

# Client-side failures: the connection, not the statement, is at fault. A cached
# statement invalidated by a schema change is re-prepared on the next try.
_CLIENT_SIDE: tuple[type[Exception], ...] = (
    OSError,  # includes ConnectionError
    asyncio.TimeoutError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.InvalidCachedStatementError,
)

# Every type a request handler must look at: is_environmental decides, the rest stays a 500.
DRIVER_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, *_CLIENT_SIDE)

_MAX_CHAIN = 8


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error, or None for anything else."""
    code = getattr(exc, "sqlstate", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def _environmental_one(exc: BaseException) -> bool:
    if isinstance(exc, _CLIENT_SIDE):
        return True
    code = sqlstate(exc)
    if code is None:
        return False
    return code[:2] in ENVIRONMENTAL_CLASSES or code in ENVIRONMENTAL_CODES


def is_environmental(exc: BaseException) -> bool:
    """True when ``exc`` (or what it was raised from) is the environment's failure.

    A read model may wrap a driver error in its own exception; the cause chain is followed
    a few links so that wrapping does not turn a read-only database into poison."""
    seen: set[int] = set()
    current: BaseException | None = exc
    for _ in range(_MAX_CHAIN):
        if current is None or id(current) in seen:
            return False
        if _environmental_one(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def signature(exc: BaseException) -> tuple[str, str | None]:
    """How an error failed, for telling "every item failed the same way" apart from one
    bad item: the exception type and, for PostgreSQL errors, the SQLSTATE."""
    return type(exc).__name__, sqlstate(exc)
