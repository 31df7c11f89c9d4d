"""Blue/green rebuild of coordination's read models from the topics.

1. A scratch schema is migrated and given the acknowledgements; a projection runner of its own
   consumer group reads the four input topics from offset 0 into it, without the rules, while
   the live service goes on serving and projecting. Progress: events, rate, ETA.
2. Each patient's flags from one evaluation; from then on the runner evaluates as live does,
   for the events still arriving.
3. The swap, in one transaction on the live schema: writers of the live read models are held
   (readers are not), the rebuild catches up with every event the live projection applied, the
   runner stops, acknowledgements made meanwhile are carried over, the two checksums (timeline,
   summaries, flags with raised_at, directory) are compared, and the tables change places. A
   difference refuses the swap unless ``force`` (a rebuild after a rules change differs on
   purpose); the scratch schema is then left for inspection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest

from services.coordination import handlers
from services.coordination.app import rules_config
from services.coordination.flagging.evaluation import Flagging
from services.coordination.migrations import migrate_read_models
from services.coordination.projection.store import CoordinationProjection
from services.coordination.settings import CoordinationSettings
from services.coordination.status import partition_offsets
from shared.db import create_pool
from shared.eventstore import PostgresEventStore
from shared.kafka.security import client_security

from . import schemas
from .flags import evaluate_everyone
from .progress import Progress
from .runner import replay_runner, topics
from .workers import Workers

CATCH_UP_TIMEOUT = 120.0


@dataclass
class RebuildReport:
    scratch: str
    events: int = 0
    seconds: float = 0.0  # the projection from offset 0 to the end offsets seen at the start
    flags_seconds: float = 0.0
    flags: int = 0
    live: dict[str, str] = field(default_factory=dict)
    rebuilt: dict[str, str] = field(default_factory=dict)
    swapped: bool = False
    retired: str | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def equal(self) -> bool:
        return self.live == self.rebuilt


async def _ends(s: CoordinationSettings, group: str) -> tuple[int, int]:
    """(what the group committed, the end offsets), summed over every partition."""
    offsets = await partition_offsets(s.kafka_bootstrap_servers, group, topics(s))
    return sum(c or 0 for _, c, _ in offsets), sum(end for _, _, end in offsets)


async def _until(what: str, done: asyncio.Task[None] | None, check: Callable[[], Awaitable[bool]],
                 timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if done is not None and done.done():
            done.result()  # the runner ended: its error, not a timeout
        if loop.time() > deadline:
            raise TimeoutError(f"the rebuild did not {what} within {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def _delete_group(bootstrap: str, group: str) -> None:
    """The replay's group holds nothing but offsets once done. aiokafka's admin client has no
    public call for DeleteGroups (API 42), so its request goes to the group's coordinator; if
    that fails the group stays, empty, until the broker expires its offsets."""
    admin = AIOKafkaAdminClient(**client_security(), bootstrap_servers=bootstrap)
    with contextlib.suppress(Exception):
        await admin.start()
        node = await admin.find_coordinator(group)
        await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
    with contextlib.suppress(Exception):
        await admin.close()


async def _bulk(s: CoordinationSettings, scratch: asyncpg.Pool, report: RebuildReport, group: str,
                workers: int, progress: Progress) -> None:
    """Phase 1: from offset 0 to the end offsets seen at the start, without the rules."""
    if workers <= 1:
        runner = replay_runner(s, scratch, group, CoordinationProjection(handlers.registry(), None))
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await _until("reach the topics' ends", task, lambda: _reached(s, group, progress), float("inf"))
        finally:
            stop.set()
            await task
    else:
        pool = Workers(s, report.scratch, group, workers)
        pool.start()
        try:
            async def reached() -> bool:
                if pool.failed():
                    raise RuntimeError("a replay worker failed")
                return await _reached(s, group, progress)
            await _until("reach the topics' ends", None, reached, float("inf"))
        finally:
            await pool.finish()
    report.events = int(await scratch.fetchval("SELECT count(*) FROM projection_tracking WHERE projection = $1",
                                               schemas.PROJECTION))
    report.seconds = progress.seconds
    progress.finish()


async def _reached(s: CoordinationSettings, group: str, progress: Progress) -> bool:
    committed, _ = await _ends(s, group)
    if progress.total is not None and committed > progress.done:
        progress.add(committed - progress.done)
    return progress.total is not None and committed >= progress.total


async def rebuild(s: CoordinationSettings, *, swap: bool, force: bool = False, keep: bool = False,
                  workers: int = 1) -> RebuildReport:
    stamp = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:4]
    live = s.database_schema
    report = RebuildReport(scratch=f"{live}_replay_{stamp}"[:63])
    group = f"{s.topic_namespace}coordination-replay-{stamp}"
    scratch = await create_pool(s.database_url, report.scratch, 6)
    live_pool = await create_pool(s.database_url, live, 2)
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        await migrate_read_models(scratch)
        async with scratch.acquire() as conn:
            await schemas.copy_acknowledgements(conn, live, report.scratch)
        _, total = await _ends(s, group)
        await _bulk(s, scratch, report, group, workers, Progress("replay", total))

        started = time.monotonic()
        config = rules_config(s)
        report.flags = await evaluate_everyone(scratch, config)
        report.flags_seconds = time.monotonic() - started
        # Phase 3: what arrives from now on goes through the rules as it does live.
        flagging = Flagging(PostgresEventStore(scratch), s.topic(kind="flags"), config)
        task = asyncio.create_task(replay_runner(s, scratch, group, CoordinationProjection(
            handlers.registry(), flagging)).run(stop))
        if swap:
            await _swap(live_pool, live, report, runner_done=task, stop=stop, force=force)
        else:
            async def caught_up() -> bool:
                done, end = await _ends(s, group)
                return done >= end
            await _until("catch up", task, caught_up, CATCH_UP_TIMEOUT)
            stop.set()
            await task
            async with live_pool.acquire() as conn:
                report.live = await schemas.checksums(conn, live)
                report.rebuilt = await schemas.checksums(conn, report.scratch)
    finally:
        stop.set()
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        await scratch.close()
        if (report.swapped or not swap) and not keep:
            await schemas.drop_schema(live_pool, report.scratch)
            if report.retired is not None:
                await schemas.drop_schema(live_pool, report.retired)
        await live_pool.close()
        await _delete_group(s.kafka_bootstrap_servers, group)
    return report


async def _swap(pool: asyncpg.Pool, live: str, report: RebuildReport, *, runner_done: asyncio.Task[None],
                stop: asyncio.Event, force: bool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '60s'")
        await schemas.lock_live(conn, live)

        async def complete() -> bool:
            return await schemas.missing_from_scratch(conn, live, report.scratch) == 0
        await _until("catch up with the live projection", runner_done, complete, CATCH_UP_TIMEOUT)
        stop.set()
        await runner_done
        await schemas.keep_other_projections(conn, live, report.scratch)
        await schemas.sync_acknowledgements(conn, live, report.scratch)
        report.live = await schemas.checksums(conn, live)
        report.rebuilt = await schemas.checksums(conn, report.scratch)
        if not report.equal and not force:
            raise ChecksumMismatch(report)
        report.retired = f"{live}_retired_{report.scratch.rsplit('_', 1)[-1]}"[:63]
        await schemas.swap(conn, live, report.scratch, report.retired)
    report.swapped = True


class ChecksumMismatch(RuntimeError):
    """The rebuilt read models differ from the live ones; nothing was swapped."""

    def __init__(self, report: RebuildReport) -> None:
        super().__init__("the rebuilt read models differ from the live ones")
        self.report = report
