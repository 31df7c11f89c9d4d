"""A relay that stops dead between the broker's ack and marking the rows sent.

Run by test_relay_crash.py as a separate process, which SIGKILLs it once the marker file
(the acknowledged event ids, one per line) appears:

    python relay_crash_worker.py PG_URL SCHEMA BOOTSTRAP MARKER BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.db import create_pool
from shared.envelope import Envelope
from shared.outbox import OutboxRelay


async def main(pg_url: str, schema: str, bootstrap: str, marker: str, batch_size: int) -> None:
    pool = await create_pool(pg_url, schema, size=3)

    def write_marker(acked: Sequence[Envelope]) -> None:
        partial = Path(marker + ".partial")
        partial.write_text("\n".join(str(e.id) for e in acked))
        os.replace(partial, marker)  # the test sees the whole list or nothing

    async def after_ack(acked: Sequence[Envelope]) -> None:
        write_marker(acked)
        await asyncio.Event().wait()  # hang until killed, rows still unmarked

    relay = OutboxRelay(pool, bootstrap, batch_size=batch_size, after_ack=after_ack)
    await relay.run(asyncio.Event())


if __name__ == "__main__":
    url, schema_, servers, marker_, batch = sys.argv[1:6]
    asyncio.run(main(url, schema_, servers, marker_, int(batch)))
