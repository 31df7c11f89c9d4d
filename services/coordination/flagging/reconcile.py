"""What the rules found against what is stored: the flags to write and the changes to announce.

``reconcile`` is pure. The engine gives every flag of the patient's history as of now (open or
resolved, in event time); the stored flags are what was announced before. The result brings the
stored flags to the engine's view and names each change dashboards must hear of:

- a flag not stored yet: ``raised`` (and ``resolved`` right after, when the history that arrived
  already clears it: a replay, or a backdated pair);
- an unresolved flag the engine resolves: ``resolved`` (``resolved_at`` in event time);
- an unresolved flag whose severity or raised_at changed, or a resolved one the engine shows
  open again (a backdated event took its resolution back): ``raised`` again, with the new
  severity and the thresholds of this raise;
- a resolved flag whose resolution moved: ``resolved`` again (a correction);
- a stored flag the engine no longer produces at all — a backdated event showed that its cause
  never held — is resolved and marked ``withdrawn``; its ``resolved_at`` is the moment of the
  earliest event of this evaluation (the backdated one), but not before the flag's own
  ``raised_at``; with no new event (the tick, after a thresholds change) it is ``raised_at``.
  A rebuild from the topics does not raise a withdrawn flag again: it records what was believed
  while it was open, and replay checksums leave it out.

Only evidence or explanation differing (a later positive PHQ-9 joining a safety flag, say) is
written without a change: the flag's state did not move. An acknowledgement survives every
change but a resolution never undoes it; a flag found for the first time whose acknowledgement
is on record (a rebuild) starts acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from services.coordination.rules import Flag

from .model import Acknowledgement, StoredFlag, plain_thresholds

ChangeKind = Literal["raised", "resolved"]


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    flag: StoredFlag  # the flag after the change


@dataclass(frozen=True, slots=True)
class Reconciled:
    writes: list[StoredFlag] = field(default_factory=list)  # final state of every flag to upsert
    changes: list[Change] = field(default_factory=list)  # in the order they happened


def _new(f: Flag, clinic_id: str, ack: Acknowledgement | None) -> StoredFlag:
    return StoredFlag(
        flag_id=f.flag_id, rule_id=f.rule_id, rule_version=f.rule_version, patient_id=f.patient_id,
        clinic_id=clinic_id, severity=f.severity, status="acknowledged" if ack else "open", raised_at=f.raised_at,
        resolved_at=None, thresholds=plain_thresholds(f), evidence=f.evidence, explanation=f.explanation,
        acknowledgement=ack)


def _unresolved_status(s: StoredFlag) -> Literal["open", "acknowledged"]:
    return "acknowledged" if s.acknowledgement is not None else "open"


def _updated(s: StoredFlag, f: Flag, clinic_id: str) -> tuple[StoredFlag, ChangeKind | None]:
    """The stored flag brought to the engine's view, and the change that is (None: silent)."""
    new = replace(s, severity=f.severity, raised_at=f.raised_at, evidence=f.evidence, explanation=f.explanation,
                  clinic_id=clinic_id, withdrawn=False)
    if f.resolved_at is None:
        new = replace(new, status=_unresolved_status(s), resolved_at=None)
        moved = (not s.unresolved or s.withdrawn or s.severity != new.severity or s.raised_at != new.raised_at)
        if moved:  # (re)raised: the thresholds and version of this raise
            return replace(new, rule_version=f.rule_version, thresholds=plain_thresholds(f)), "raised"
        return new, None
    new = replace(new, status="resolved", resolved_at=f.resolved_at)
    moved = (s.unresolved or s.withdrawn or s.resolved_at != new.resolved_at or s.raised_at != new.raised_at
             or s.severity != new.severity)
    return new, "resolved" if moved else None


def _withdrawn(s: StoredFlag, withdrawn_at: datetime | None) -> StoredFlag:
    if not s.unresolved:
        return replace(s, withdrawn=True)  # it resolved before; now it never held
    at = max(s.raised_at, withdrawn_at) if withdrawn_at is not None else s.raised_at
    return replace(s, status="resolved", resolved_at=at, withdrawn=True)


def reconcile(stored: Mapping[str, StoredFlag], found: Sequence[Flag], clinic_id: str, *,
              acks: Mapping[str, Acknowledgement] | None = None,
              withdrawn_at: datetime | None = None) -> Reconciled:
    """``stored``: the patient's flags by id; ``found``: the engine's flags of the patient;
    ``acks``: acknowledgements on record by flag id; ``withdrawn_at``: the earliest occurred_at
    of the events this evaluation follows (None for the tick)."""
    out = Reconciled()
    seen: set[str] = set()
    for f in found:
        seen.add(f.flag_id)
        s = stored.get(f.flag_id)
        if s is None:
            opened = _new(f, clinic_id, (acks or {}).get(f.flag_id))
            out.changes.append(Change("raised", opened))
            final = opened
            if f.resolved_at is not None:
                final = replace(opened, status="resolved", resolved_at=f.resolved_at)
                out.changes.append(Change("resolved", final))
            out.writes.append(final)
            continue
        new, kind = _updated(s, f, clinic_id)
        if new == s:
            continue
        out.writes.append(new)
        if kind is not None:
            out.changes.append(Change(kind, new))
    gone = sorted((s for s in stored.values() if s.flag_id not in seen and not s.withdrawn),
                  key=lambda s: (s.raised_at, s.flag_id))
    for s in gone:
        new = _withdrawn(s, withdrawn_at)
        out.writes.append(new)
        out.changes.append(Change("resolved", new))
    return out
