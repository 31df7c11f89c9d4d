"""Which failures the projection runner waits out (environment) and which it dead-letters
(the message): a mistake one way dead-letters good events for ever."""

from __future__ import annotations

import asyncpg
import pytest

from shared.dberrors import is_environmental, signature

pg = asyncpg.exceptions

ENVIRONMENTAL = [
    pg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),  # 25006
    pg.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
    pg.LockNotAvailableError("canceling statement due to lock timeout"),  # 55P03
    pg.DiskFullError("could not extend file"),  # 53100
    pg.OutOfMemoryError("out of memory"),  # 53200
    pg.TooManyConnectionsError("too many clients"),  # 53300
    pg.SerializationError("could not serialize access"),  # 40001
    pg.DeadlockDetectedError("deadlock detected"),  # 40P01
    pg.ConnectionDoesNotExistError("connection was closed"),  # 08003
    pg.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
    pg.IdleInTransactionSessionTimeoutError("idle in transaction timeout"),  # 25P03
    pg.PostgresIOError("could not read block"),  # 58030
    pg.UndefinedTableError('relation "patient_directory" does not exist'),  # 42P01
    pg.UndefinedColumnError('column "clinic_id" does not exist'),  # 42703
    pg.InterfaceError("cannot perform operation: another operation is in progress"),
    pg.InvalidCachedStatementError("cached statement plan is invalid"),
    # a connection cut mid-query by a server's shutdown (seen under load in `make chaos`)
    pg._base.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError("network unreachable"),
    TimeoutError(),
]

MESSAGE_FAULTS = [
    pg.UniqueViolationError("duplicate key value"),  # 23505
    pg.CheckViolationError("violates check constraint"),  # 23514
    pg.NotNullViolationError("null value in column"),  # 23502
    pg.InvalidTextRepresentationError("invalid input syntax for type uuid"),  # 22P02
    pg.NumericValueOutOfRangeError("value out of range"),  # 22003
    pg.UndefinedFunctionError("function does not exist"),  # 42883: code, not a deploy gap
    ValueError("refused"),
    KeyError("to_clinic_id"),
]


@pytest.mark.parametrize("exc", ENVIRONMENTAL, ids=lambda e: type(e).__name__)
def test_environmental_failures_are_waited_out(exc: BaseException) -> None:
    assert is_environmental(exc)


@pytest.mark.parametrize("exc", MESSAGE_FAULTS, ids=lambda e: type(e).__name__)
def test_a_message_s_own_failures_are_not(exc: BaseException) -> None:
    assert not is_environmental(exc)


def test_a_wrapped_database_error_is_classified_by_its_cause() -> None:
    try:
        try:
            raise pg.ReadOnlySQLTransactionError("read-only")
        except pg.PostgresError as inner:
            raise RuntimeError("could not update the read model") from inner
    except RuntimeError as outer:
        assert is_environmental(outer)
    try:
        try:
            raise pg.UniqueViolationError("duplicate")
        except pg.PostgresError as inner:
            raise RuntimeError("could not update the read model") from inner
    except RuntimeError as outer:
        assert not is_environmental(outer)


def test_a_cause_cycle_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert not is_environmental(a)


def test_signature_tells_sqlstates_apart() -> None:
    assert signature(pg.UniqueViolationError("x")) == ("UniqueViolationError", "23505")
    assert signature(ValueError("x")) == ("ValueError", None)
    assert signature(pg.ReadOnlySQLTransactionError("a")) == signature(pg.ReadOnlySQLTransactionError("b"))
