"""Provenance per exported resource: what it was made from (the source events), when that was
recorded and by whom; pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .codes import PROVENANCE_PARTICIPANT, STAFF, URI, concept, instant, ref, resource_id
from .common import Resource, shell
from .record import Source

AUTHOR = concept(PROVENANCE_PARTICIPANT, "author", "Author")
ASSEMBLER = concept(PROVENANCE_PARTICIPANT, "assembler", "Assembler")
VERIFIER = concept(PROVENANCE_PARTICIPANT, "verifier", "Verifier")


def staff(staff_id: str) -> dict[str, object]:
    return {"identifier": {"system": STAFF, "value": staff_id}}


def provenance(target: Resource, sources: Sequence[Source], *, rule: str | None = None,
               verified_by: str | None = None, recorded: datetime | None = None) -> Resource:
    """``recorded``: when the last source was recorded (or ``recorded``, for a flag whose evidence
    is gone); agents: each person who recorded a source, the rule that raised a flag, the clinician
    who acknowledged it."""
    moments = [s.fact.recorded_at for s in sources] + ([recorded] if recorded else [])
    when = max(moments)
    agents: list[dict[str, object]] = []
    for actor in dict.fromkeys(s.actor for s in sources if s.actor):
        agents.append({"type": AUTHOR, "who": staff(actor)})
    if rule:
        agents.append({"type": ASSEMBLER, "who": {"display": f"carecoord coordination rule {rule}"}})
    if verified_by:
        agents.append({"type": VERIFIER, "who": staff(verified_by)})
    if not agents:  # an event published without an actor: the service that published it
        services = sorted({s.fact.service for s in sources}) or ["coordination"]
        agents.append({"type": AUTHOR, "who": {"display": f"carecoord {', '.join(services)} service"}})
    kind, rid = target["resourceType"], target["id"]
    return shell("Provenance", resource_id("Provenance", f"{kind}/{rid}"), sources, also=moments) | {
        "target": [ref(kind, rid)],
        "recorded": instant(when),
        "agent": agents,
        "entity": [{"role": "source", "what": {
            "identifier": {"system": URI, "value": f"urn:uuid:{s.event_id}"},
            "display": f"carecoord {s.fact.service} {s.fact.event_name} event"}} for s in sources],
    }
