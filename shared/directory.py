"""Patient directory: patient → clinic, for scoping every request to the caller's clinics.

A small projection of the assessment service's enrollment events that every other service
keeps in its own database, so no service calls another to learn where a patient belongs.
It matches events by service and event name, never by the versioned type string, so a new
payload version does not make it deaf; it reads the envelope's attributes (subject, clinic,
time): the shared library knows no service's domain classes. A patient's clinic is the one
they were enrolled in: no event moves them (a transfer would be a command of the assessment
service, audited like any other), so nothing written to the topic can carry a patient into
another clinic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from shared.db import plain_dsn, pool_target
from shared.envelope import Envelope, UnknownEventType, parse_type
from shared.projection import ProjectionRunner
from shared.retry import Backoff, sleep_or_stop

if TYPE_CHECKING:
    from shared.service import Runtime

SOURCE_SERVICE = "assessment"
ENROLLED = "PatientEnrolled"
ERASED = "PatientIdentityErased"

log = logging.getLogger(__name__)

# One channel per schema (tests share a database, one schema each), hashed to stay within
# PostgreSQL's 63-byte names; the SQL and the Python spelling must agree.
_CHANNEL_SQL = "'patient_directory_' || left(md5(current_schema()), 16)"


def channel_of(schema: str) -> str:
    return "patient_directory_" + hashlib.md5(schema.encode()).hexdigest()[:16]  # a name, not a secret


async def add_patient(conn: asyncpg.Connection | asyncpg.Pool, patient_id: str, clinic_id: str,
                      enrolled_at: object) -> None:
    """Add the patient (a second enrolment of the same id changes nothing) and, at commit, wake
    the requests of this service waiting for them (:class:`PatientDirectory`)."""
    await conn.execute(
        "WITH added AS (INSERT INTO patient_directory (patient_id, clinic_id, enrolled_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (patient_id) DO NOTHING RETURNING patient_id, clinic_id) "
        f"SELECT pg_notify({_CHANNEL_SQL}, json_build_array(patient_id, clinic_id)::text) FROM added",
        patient_id, clinic_id, enrolled_at)


@dataclass(frozen=True)
class Visible:
    """A patient the caller may see: their clinic and whether their identity was erased (None
    when not read: the patient reached the directory while the request waited for them)."""

    clinic: str
    erased: bool | None


OnErased = Callable[[asyncpg.Connection, str], Awaitable[None]]
"""(connection, patient id): a service's own erasure, run in the directory's transaction."""


class DirectoryProjection:
    """Projection for :class:`shared.projection.ProjectionRunner` on the assessment topic.

    ``on_erased`` lets a service delete what it holds about a patient in words (notes) in the
    same transaction that marks the patient erased, so the two never disagree and a
    redelivered erasure (the runner skips applied events) does nothing twice."""

    name = "patient_directory"

    def __init__(self, on_erased: OnErased | None = None) -> None:
        self.on_erased = on_erased

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            name = _assessment_event(env)
            if name == ENROLLED:
                await add_patient(conn, env.subject, env.clinic_id, env.time)
            elif name == ERASED:
                await conn.execute("UPDATE patient_directory SET identity_erased = true "
                                   "WHERE patient_id = $1", env.subject)
                if self.on_erased is not None:
                    await self.on_erased(conn, env.subject)


def _assessment_event(env: Envelope) -> str | None:
    """The event name of an assessment event, whatever its version; None for any other
    (another service's, or a type that is not a carecoord one: not the directory's)."""
    try:
        service, name, _ = parse_type(env.type)
    except UnknownEventType:
        return None
    return name if service == SOURCE_SERVICE else None


class PatientDirectory:
    """Patient → clinic, for the caller's clinics only, and one answer for every patient the
    caller may not see.

    A patient enrolled a moment ago may not have reached this service's directory yet, so a
    client that enrolls and then writes at once must not be told the patient does not exist:
    a patient the caller cannot see is waited for up to ``miss_wait_seconds``, woken early by
    the enrolment's NOTIFY (:meth:`listen` keeps one LISTEN connection per service instance).
    That wait is the same for an unknown id as for another clinic's patient, and both answers
    come at the end of it, so the answer's time tells nothing about whether the id exists
    (before, an unknown id took the whole wait and another clinic's patient none). It costs one
    query per probe (two while the listener is down: one more look at the deadline) and a
    sleeping coroutine, not a connection.
    """

    def __init__(self, pool: asyncpg.Pool, miss_wait_seconds: float = 1.0) -> None:
        self.pool = pool
        self.miss_wait_seconds = miss_wait_seconds
        self._waiters: dict[str, list[asyncio.Future[str]]] = {}
        self._listening = False

    async def _lookup(self, patient_id: str, clinics: Collection[str]) -> Visible | None:
        # The erasure mark comes with the clinic: a command needs both, in one round trip.
        row = await self.pool.fetchrow(
            "SELECT clinic_id, identity_erased FROM patient_directory WHERE patient_id = $1", patient_id)
        if row is None or row["clinic_id"] not in clinics:
            return None
        return Visible(row["clinic_id"], bool(row["identity_erased"]))

    async def visible_clinic(self, patient_id: str, clinics: Collection[str]) -> str | None:
        """The patient's clinic when it is one of ``clinics``; None otherwise (unknown or
        another clinic's), always after the same wait."""
        found = await self.visible(patient_id, clinics)
        return None if found is None else found.clinic

    async def visible(self, patient_id: str, clinics: Collection[str]) -> Visible | None:
        """:meth:`visible_clinic` with whether the patient's identity was erased, as read then
        (None for a patient that only just arrived, whose row was not read)."""
        if self.miss_wait_seconds <= 0:  # a directory written with the enrolment: no race
            return await self._lookup(patient_id, clinics)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.miss_wait_seconds
        listening = self._listening  # a NOTIFY is only awaited if the LISTEN predates the lookup
        waiter: asyncio.Future[str] = loop.create_future()
        self._waiters.setdefault(patient_id, []).append(waiter)
        try:
            found = await self._lookup(patient_id, clinics)
            if found is not None:
                return found
            with contextlib.suppress(TimeoutError):
                enrolled = await asyncio.wait_for(waiter, deadline - loop.time())
                found = Visible(enrolled, None) if enrolled in clinics else None
            if found is None and not listening:
                found = await self._lookup(patient_id, clinics)
        finally:
            self._forget(patient_id, waiter)
        if found is None:
            await asyncio.sleep(max(0.0, deadline - loop.time()))  # every refusal at the same moment
        return found

    def _forget(self, patient_id: str, waiter: asyncio.Future[str]) -> None:
        waiting = self._waiters.get(patient_id, [])
        if waiter in waiting:
            waiting.remove(waiter)
        if not waiting:
            self._waiters.pop(patient_id, None)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            patient_id, clinic = json.loads(payload)
        except (ValueError, TypeError):
            return
        for waiter in self._waiters.get(patient_id, []):
            if not waiter.done():
                waiter.set_result(clinic)

    async def listen(self, stop: asyncio.Event) -> None:
        """Hold a LISTEN for enrolments reaching this directory until ``stop``, reconnecting
        after a failure (meanwhile lookups wait the whole window and look again)."""
        try:
            url, schema = pool_target(self.pool)
        except LookupError:
            return  # a pool this module did not make: lookups work without the early wake-up
        backoff = Backoff(0.5, 10.0)
        while not stop.is_set():
            try:
                await self._listen_once(url, channel_of(schema), stop, backoff)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("patient directory: LISTEN unavailable; retrying", extra={"error_type": type(exc).__name__})
            if not stop.is_set() and await sleep_or_stop(stop, backoff.next_delay()):
                return

    async def _listen_once(self, url: str, channel: str, stop: asyncio.Event, backoff: Backoff) -> None:
        """One LISTEN connection, until ``stop`` or until the connection is lost."""
        conn = await asyncpg.connect(plain_dsn(url))
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(channel, self._notified)
            self._listening = True
            backoff.reset()
            ended = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
            try:
                await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in ended:
                    task.cancel()
        finally:
            self._listening = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


async def directory_runner(runtime: Runtime, on_erased: OnErased | None = None
                           ) -> tuple[PatientDirectory, ProjectionRunner]:
    """The directory of a service other than assessment: its table, kept current by a
    projection runner on the assessment topic (started by the service's lifespan, which
    has migrated the database); ``on_erased`` as :class:`DirectoryProjection` takes it."""
    settings = runtime.settings
    runner = ProjectionRunner(
        pool=runtime.pool, bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.topic_namespace}{settings.service_name}.patient-directory",
        topics=[settings.topic("assessment")], projection=DirectoryProjection(on_erased),
        partitions=settings.topic_partitions, replication=settings.topic_replication_factor,
        min_insync=settings.topic_min_insync_replicas, trace_links=settings.telemetry_exporter != "off")
    runtime.consumers.append(runner)  # /ready reports it
    return PatientDirectory(runtime.pool, settings.directory_miss_wait_seconds), runner
