"""A relay that leads and keeps publishing; test_relay_pause.py pauses it with SIGSTOP.

    python relay_pause_worker.py PG_URL SCHEMA BOOTSTRAP MARKER

The marker file appears once the relay has published a batch, i.e. once it leads.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.db import create_pool
from shared.envelope import Envelope
from shared.outbox import OutboxRelay


async def main(pg_url: str, schema: str, bootstrap: str, marker: str) -> None:
    pool = await create_pool(pg_url, schema, size=3)

    def mark(count: int) -> None:
        Path(marker).write_text(str(count))

    async def after_ack(acked: Sequence[Envelope]) -> None:
        mark(len(acked))

    await OutboxRelay(pool, bootstrap, after_ack=after_ack).run(asyncio.Event())


if __name__ == "__main__":
    url, schema_, servers, marker_ = sys.argv[1:5]
    asyncio.run(main(url, schema_, servers, marker_))
