"""Each event's place in its stream's hash chain, checked as the history is read: pure.

Every producer's store seals an event with ``sha256(previous hash ‖ canonical content)``
(``shared.envelope.chain_hash``) and publishes that hash in ``ce_hash``. Given a stream's events
in sequence order, each one is:

- ``verified``: its published hash is the chain hash of its content after its predecessor's;
- ``hash mismatch``: it is not (the content, or the hash, was changed after the producer
  sealed it: a record produced by hand, a payload edited on its way);
- ``gap``: its predecessor never arrived here (a dead-lettered or missing event), or it names no
  position; the link cannot be checked;
- ``no hash``: it came without ``ce_hash`` (a producer from before hashes were published).

Each link is checked on its own: the next event is chained to the hash its predecessor was
published with (or, without one, to the hash its content implies), so one altered event is
reported once rather than breaking everything after it. Memory: one entry per stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.envelope import Envelope, chain_hash

Status = Literal["verified", "hash mismatch", "gap", "no hash"]
STATUSES: tuple[Status, ...] = ("verified", "hash mismatch", "gap", "no hash")


@dataclass(frozen=True, slots=True)
class Link:
    sequence: int
    hash: bytes | None  # what the next event chains to; None: unknown (after a gap, without a hash)


@dataclass
class ChainCheck:
    """The running check of every stream met so far, keyed by (service, stream id): stream ids
    are unique within one service's store only."""

    last: dict[tuple[str, str], Link] = field(default_factory=dict)

    def check(self, env: Envelope) -> Status:
        """``env``'s status; call in each stream's sequence order."""
        key = (env.service, env.stream_id)
        before = self.last.get(key)
        seq = env.stream_version
        follows = seq >= 1 and (seq == 1 if before is None else seq == before.sequence + 1)
        prev_known = follows and (seq == 1 or (before is not None and before.hash is not None))
        prev = before.hash if before is not None and seq > 1 else None
        expected = chain_hash(prev, env) if prev_known else None
        status: Status
        if not prev_known:
            status = "gap"
        elif env.hash is None:
            status = "no hash"
        else:
            status = "verified" if env.hash == expected else "hash mismatch"
        self.last[key] = Link(seq, env.hash if env.hash is not None else expected)
        return status
