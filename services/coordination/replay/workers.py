"""The bulk of a rebuild in several processes.

Decoding, folding and describing events is Python work of one core; the database works while
Python waits. Several processes in the replay's consumer group share the topics' partitions
(Kafka assigns them), each applying its share into the scratch schema with the projection alone
(no rules; the per-patient advisory lock serialises a patient whose events two of them hold).
The parent follows the group's committed offsets, and stops them once the offsets seen at the
start are reached; it then goes on in-process, in the same group, from where they committed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

from services.coordination import handlers
from services.coordination.projection.store import CoordinationProjection
from services.coordination.settings import CoordinationSettings
from shared.db import create_pool

from .runner import replay_runner


def _main(settings: dict[str, Any], scratch: str, group: str, stop: Any) -> None:
    asyncio.run(_work(CoordinationSettings(**settings), scratch, group, stop))


async def _work(s: CoordinationSettings, scratch: str, group: str, stop_flag: Any) -> None:
    pool = await create_pool(s.database_url, scratch, 3)
    runner = replay_runner(s, pool, group, CoordinationProjection(handlers.registry(), None))
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        while not task.done():
            if await asyncio.to_thread(stop_flag.wait, 0.2):  # the parent's signal, across processes
                break
    finally:
        stop.set()
        await task
        await pool.close()


class Workers:
    def __init__(self, s: CoordinationSettings, scratch: str, group: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited event loop, pools or sockets
        self.stop = context.Event()
        self.processes = [context.Process(target=_main, args=(s.model_dump(), scratch, group, self.stop),
                                          name=f"replay-worker-{n}", daemon=True) for n in range(count)]

    def start(self) -> None:
        for p in self.processes:
            p.start()

    def failed(self) -> bool:
        return any(p.exitcode not in (None, 0) for p in self.processes)

    async def finish(self, timeout: float = 30.0) -> None:
        self.stop.set()
        for p in self.processes:
            await asyncio.to_thread(p.join, timeout)
            if p.is_alive():
                p.terminate()
