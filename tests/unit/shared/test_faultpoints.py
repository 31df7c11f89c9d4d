"""Fault points: inert without a folder; armed, they fire once, at the point, after recording
the ids of the events concerned."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.faultpoints import RELAY_AFTER_ACK, armed, fired, relay_after_ack
from tests.unit.coordination.builders import envelope


def test_no_folder_no_hook() -> None:
    assert relay_after_ack(None, "pharmacy") is None
    assert relay_after_ack("", "pharmacy") is None


def test_an_armed_point_records_the_acknowledged_ids_then_dies_once(tmp_path: Path) -> None:
    deaths: list[str] = []
    hook = relay_after_ack(str(tmp_path), "pharmacy", die=lambda: deaths.append("killed"))
    assert hook is not None
    batch = [envelope("pharmacy", "DoseAdjusted", {}, stream=f"s-{i}") for i in range(3)]

    asyncio.run(hook(batch))  # not armed: nothing happens
    assert deaths == [] and not fired(tmp_path, "pharmacy", RELAY_AFTER_ACK).exists()

    armed(tmp_path, "therapy", RELAY_AFTER_ACK).touch()  # another service's arming is not this one's
    asyncio.run(hook(batch))
    assert deaths == []

    armed(tmp_path, "pharmacy", RELAY_AFTER_ACK).touch()
    asyncio.run(hook([]))  # nothing acknowledged: no moment to die at
    assert deaths == []
    asyncio.run(hook(batch))
    assert deaths == ["killed"]
    assert fired(tmp_path, "pharmacy", RELAY_AFTER_ACK).read_text().split() == [str(e.id) for e in batch]
    assert not armed(tmp_path, "pharmacy", RELAY_AFTER_ACK).exists()  # disarmed: one crash per arming

    asyncio.run(hook(batch))
    assert deaths == ["killed"]
