"""``GET /v1/streams/flags``: the flag changes of the caller's clinics as Server-Sent Events.

Each row of ``flag_changes`` (a raise, acknowledgement or resolution, written by the
projection's batch transaction) goes out as ``id: <change_id>``, ``event: <change>``,
``data: <the flag as JSON>``. A dashboard that reconnects with ``Last-Event-ID`` (or
``?last_event_id=``) gets every change after that id, in change_id order.

Gap safety. Identity values are drawn when a row is inserted but become visible when its
transaction commits, so a reader tailing ``change_id > last`` can pass over a row that a
slower transaction commits later, and never send it. Filtering rows by their own ``xmin``
against ``pg_snapshot_xmin`` is not enough: a transaction that took its xid early can draw
the higher id and commit first, while the lower id is still in flight (a test shows it).
So the stream sends only ids below a *final horizon*, found by observation:

1. read the highest id drawn so far (the identity sequence's last value), then
2. list the transactions holding ``RowExclusiveLock`` on ``flag_changes`` (``pg_locks``).

An INSERT takes that lock before it draws an id and keeps it until its transaction ends, so
any id up to the value read in 1 belongs to a transaction that had ended or was listed in 2.
Once none of those listed is still writing, every id up to that value is final: committed and
visible, or rolled back and never to exist. Each poll makes one observation and settles the
earlier ones; nothing is waited for, and writers are never blocked. This holds whatever
locks the writers take (today they happen to draw ids under the event store's append lock)
and for the identity's default sequence cache of 1 (a larger cache would hand out ids
without touching the sequence).

A stream without a position starts after the highest id drawn when it opens;
``Last-Event-ID: 0`` replays every change of the caller's clinics. A position beyond any id
ever drawn (the read models were rebuilt and numbering restarted) restarts from 0 rather
than waiting, silently, for the new numbering to catch up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.coordination.deps import Context
from shared.auth import Principal, Role, require_roles
from shared.dberrors import is_environmental

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/streams", tags=["dashboards"])

Watcher = Annotated[Principal, Depends(require_roles(Role.DASHBOARD, Role.COORDINATOR))]


class FlagStreamSettings(BaseSettings):
    """Timing of the stream, from ``CARECOORD_COORDINATION_FLAG_STREAM_*``; tests set
    ``app.state.flag_stream`` to one of their own."""

    model_config = SettingsConfigDict(env_prefix="CARECOORD_COORDINATION_FLAG_STREAM_", extra="ignore",
                                      frozen=True)

    heartbeat_seconds: float = 15.0  # a comment line, so proxies keep an idle stream open
    poll_seconds: float = 0.5
    # A stream ends after this long and its client resumes with Last-Event-ID: a token that
    # expired meanwhile is not honoured for ever, and open dashboards cannot hold a server
    # that is shutting down for longer than this.
    max_seconds: float = 600.0
    retry_ms: int = 2000  # the reconnection delay an EventSource is told to use
    batch_size: int = 500


def stream_settings(request: Request) -> FlagStreamSettings:
    settings = getattr(request.app.state, "flag_stream", None)
    if settings is None:  # read the environment on first use, never at import
        settings = request.app.state.flag_stream = FlagStreamSettings()
    return settings


DRAWN = ("SELECT coalesce(pg_sequence_last_value("
         "pg_get_serial_sequence('flag_changes', 'change_id')::regclass), 0)")
WRITERS = """
SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') FROM pg_locks
WHERE locktype = 'relation' AND relation = 'flag_changes'::regclass AND mode = 'RowExclusiveLock'
  AND granted AND pid IS DISTINCT FROM pg_backend_pid()
"""
CHANGES = """
SELECT change_id, change, flag::text AS flag FROM flag_changes
WHERE clinic_id = ANY($1::text[]) AND change_id > $2 AND change_id <= $3
ORDER BY change_id LIMIT $4
"""

MAX_PENDING = 64


@dataclass
class Horizon:
    """The highest change id up to which every change is final, from observations of (the
    highest id drawn, the transactions writing just after): see the module's docstring."""

    final: int = 0
    pending: list[tuple[int, frozenset[str]]] = field(default_factory=list)

    def observe(self, drawn: int, writers: frozenset[str]) -> int:
        self.pending.append((drawn, writers))
        # A writer of an earlier observation that is not writing now has ended (a transaction
        # keeps its lock to the end, and its virtual id is never reused).
        still = [(d, w & writers) for d, w in self.pending]
        self.final = max([self.final, *(d for d, w in still if not w)])
        self.pending = [(d, w) for d, w in still if w and d > self.final]
        if len(self.pending) > MAX_PENDING:
            # One very long writer: fold the two newest into one that settles when both have.
            (d1, w1), (d2, w2) = self.pending[-2:]
            self.pending[-2:] = [(max(d1, d2), w1 | w2)]
        return self.final


async def observe(conn: asyncpg.Connection) -> tuple[int, frozenset[str]]:
    """(highest id drawn, writers now): two statements, in this order (see the docstring)."""
    drawn = await conn.fetchval(DRAWN)
    writers = await conn.fetchval(WRITERS)
    return int(drawn), frozenset(writers)


class SharedHorizon:
    """The process's one horizon, observed at most once per ``interval`` however many
    dashboards poll: the horizon is the table's, not a client's, and reading ``pg_locks``
    scans the server's whole lock table."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.horizon = Horizon()
        self._lock = asyncio.Lock()
        self._observed_at = float("-inf")

    async def observe(self, conn: asyncpg.Connection) -> int:
        """A fresh observation; the highest id drawn."""
        async with self._lock:
            drawn, writers = await observe(conn)
            self.horizon.observe(drawn, writers)
            self._observed_at = asyncio.get_running_loop().time()
            return drawn

    async def final(self, conn: asyncpg.Connection) -> int:
        async with self._lock:
            if asyncio.get_running_loop().time() - self._observed_at >= self.interval:
                self.horizon.observe(*await observe(conn))
                self._observed_at = asyncio.get_running_loop().time()
            return self.horizon.final


def shared_horizon(request: Request, settings: FlagStreamSettings) -> SharedHorizon:
    shared = getattr(request.app.state, "flag_horizon", None)
    if shared is None:
        shared = request.app.state.flag_horizon = SharedHorizon(settings.poll_seconds / 2)
    return shared


def sse_event(change_id: int, change: str, data: str) -> str:
    # A data line cannot hold a newline; JSON from jsonb has none, but the format allows it.
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"id: {change_id}\nevent: {change}\n{lines}\n"


def sse_opening(position: int, retry_ms: int) -> str:
    """A block without data: no event is dispatched, but the client's last event id is set,
    so a client that saw no change yet resumes from where it started."""
    return f"retry: {retry_ms}\nid: {position}\n\n"


HEARTBEAT = ": heartbeat\n\n"


@dataclass
class FlagFeed:
    """One client's stream: its clinics and its position."""

    pool: asyncpg.Pool
    clinics: list[str]
    position: int
    horizon: SharedHorizon
    settings: FlagStreamSettings

    async def poll(self) -> list[asyncpg.Record]:
        """The next changes below the final horizon; a connection only for the poll, so an
        idle dashboard holds none."""
        async with self.pool.acquire() as conn:
            final = await self.horizon.final(conn)
            if final <= self.position:
                return []
            rows = await conn.fetch(CHANGES, self.clinics, self.position, final, self.settings.batch_size)
        # Past the other clinics' changes too, unless the page was full.
        self.position = rows[-1]["change_id"] if len(rows) == self.settings.batch_size else final
        return list(rows)

    async def events(self, request: Request) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        s = self.settings
        started = last_write = loop.time()
        yield sse_opening(self.position, s.retry_ms)
        while loop.time() - started < s.max_seconds and not await request.is_disconnected():
            try:
                rows = await self.poll()
            except Exception as exc:
                if not is_environmental(exc):
                    raise
                # The client resumes from its last id when the database is back.
                log.warning("flag stream ended: the database is unavailable",
                            extra={"error_type": type(exc).__name__})
                return
            for row in rows:
                yield sse_event(row["change_id"], row["change"], row["flag"])
            if rows:
                last_write = loop.time()
            elif loop.time() - last_write >= s.heartbeat_seconds:
                yield HEARTBEAT
                last_write = loop.time()
            if len(rows) < s.batch_size:
                await asyncio.sleep(s.poll_seconds)


EXAMPLE = ('id: 42\nevent: raised\ndata: {"flag_id": "0d6f5c1e-3c1b-5b0e-9a57-2f4b8e1a7c3d", '
           '"rule_id": "polypharmacy", "patient_id": "p-1", "clinic_id": "clinic-a", "severity": "warning", '
           '"status": "open"}\n\n')
STREAM_DOC: dict[int | str, dict[str, Any]] = {200: {
    "description": "Server-Sent Events: `id: <change_id>`, `event: raised|acknowledged|resolved`, "
                   "`data: <the flag as JSON>`; a `: heartbeat` comment when idle",
    "content": {"text/event-stream": {"schema": {"type": "string"}, "example": EXAMPLE}}}}


@router.get("/flags", response_class=StreamingResponse, responses=STREAM_DOC,
            summary="Flag changes of the caller's clinics as Server-Sent Events, resumable with Last-Event-ID")
async def flag_stream(
    request: Request, ctx: Context, principal: Watcher,
    settings: Annotated[FlagStreamSettings, Depends(stream_settings)],
    last_event_id: Annotated[int | None, Query(ge=0, description="for clients that cannot set "
                                               "Last-Event-ID; the header wins when both are given")] = None,
    last_event_id_header: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, description="the id of the "
                                                      "last event received: the stream resumes after it")] = None,
) -> StreamingResponse:
    # An EventSource resends its original URL on reconnection, so the header is the newer one.
    requested = last_event_id_header if last_event_id_header is not None else last_event_id
    horizon = shared_horizon(request, settings)
    async with ctx.pool.acquire() as conn:  # before the response: a database away answers 503
        drawn = await horizon.observe(conn)
    position = drawn if requested is None else requested
    if requested is not None and requested > drawn:
        log.warning("flag stream position %s is beyond every change id; restarting from 0", requested)
        position = 0
    clinics = sorted(principal.clinic_ids)
    # Once per stream, not per event: a dashboard is not a person reading one patient's record.
    log.info("flag stream opened by staff %s for clinics %s after change %s",
             principal.staff_id, ",".join(clinics), position)
    feed = FlagFeed(ctx.pool, clinics, position, horizon, settings)
    return StreamingResponse(feed.events(request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
