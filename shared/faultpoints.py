"""Fault points: exact moments at which a fault-injection run (``make chaos``) stops a service
dead, where a signal sent from outside could only land at a random one.

The one point is ``relay-after-ack``: between the broker's acknowledgement of a batch and the
outbox marking it sent, the crash that makes the relay publish the batch a second time. A
point is inert unless the service is given a folder (``CARECOORD_FAULT_POINTS``); the run arms
it by dropping a file ``<service>.<point>`` there, and the service, on reaching the point with
the file present, writes the ids of the events concerned to ``<service>.<point>.fired``,
removes the file and SIGKILLs itself: exactly one crash per arming, at exactly that moment.
Ids only: the run checks that those events were published again, never anything about a
patient.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from shared.envelope import Envelope
from shared.outbox.relay import AfterAck

RELAY_AFTER_ACK = "relay-after-ack"


def armed(folder: Path, service: str, point: str) -> Path:
    return folder / f"{service}.{point}"


def fired(folder: Path, service: str, point: str) -> Path:
    return folder / f"{service}.{point}.fired"


def relay_after_ack(folder: str | None, service: str, die: Callable[[], None] | None = None) -> AfterAck | None:
    """The relay's ``after_ack`` hook for ``service``, or None when no folder is given (then
    the relay runs with no hook at all: the point costs nothing outside a fault run)."""
    if not folder:
        return None
    arm, record = armed(Path(folder), service, RELAY_AFTER_ACK), fired(Path(folder), service, RELAY_AFTER_ACK)
    kill = die or (lambda: os.kill(os.getpid(), signal.SIGKILL))

    async def hook(acked: Sequence[Envelope]) -> None:
        if not acked or not arm.exists():
            return
        partial = record.with_name(record.name + ".partial")
        partial.write_text("".join(f"{e.id}\n" for e in acked))
        os.replace(partial, record)  # whole or absent: the run reads it once it appears
        arm.unlink(missing_ok=True)
        kill()
    return hook
